"""The podcast feed: RSS 2.0 with one item per finished show — its MP3 as the enclosure, its
WebVTT transcript as a `podcast:transcript`, the papers it cites in the description.

    xml = rss(station, "http://127.0.0.1:8020/")    # a str; ElementTree does the escaping
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

from islands.radio.station import Station
from islands.radio.summarize import cite

__all__ = ["PODCAST_NS", "rss"]

PODCAST_NS = "https://podcastindex.org/namespace/1.0"
ITUNES_NS = "http://www.itunes.com/dtds/podcast-1.0.dtd"
ET.register_namespace("podcast", PODCAST_NS)
ET.register_namespace("itunes", ITUNES_NS)


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    node = ET.SubElement(parent, tag, attrs)
    if text is not None:
        node.text = text
    return node


def rss(station: Station, base: str) -> str:
    """The station's finished shows as an RSS 2.0 document, newest first."""
    base = base.rstrip("/") + "/"
    root = ET.Element("rss", {"version": "2.0"})
    channel = _sub(root, "channel")
    _sub(channel, "title", "Paper Radio")
    _sub(channel, "link", base)
    _sub(channel, "description", f"Daily and weekly shows about the papers in {Path(station.folder).name}, read by islands.")
    _sub(channel, "language", station.config.language)
    _sub(channel, "generator", "islands radio")
    _sub(channel, "lastBuildDate", format_datetime(datetime.now(UTC)))
    for show in station.shows(finished=True):
        item = _sub(channel, "item")
        _sub(item, "title", show["title"])
        cited = [cite(p["title"], p["id"]) for p in (station.paper(pid) for pid in show["papers"])]
        _sub(item, "description", f"{len(cited)} papers: " + "; ".join(cited))
        _sub(item, "guid", f"islands-radio:{show['id']}", isPermaLink="false")
        _sub(item, "pubDate", format_datetime(datetime.fromtimestamp(show["created"], UTC)))
        size = Path(show["mp3"]).stat().st_size
        _sub(item, "enclosure", url=f"{base}shows/{show['id']}.mp3", length=str(size), type="audio/mpeg")
        _sub(item, f"{{{PODCAST_NS}}}transcript", url=f"{base}shows/{show['id']}.vtt", type="text/vtt")
        _sub(item, f"{{{ITUNES_NS}}}duration", str(round(show["duration"] or 0)))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
