"""Speech and audio: espeak-ng speaks each line of a script in its host's voice, the lines
are joined (Python's `wave`) with short pauses into one WAV with a transcript of timings
(JSON and WebVTT), and ffmpeg encodes it to MP3 and Ogg Vorbis.

    seconds = speak(lines, hosts, folder)    # folder/show.wav, transcript.json, transcript.vtt
    encode(folder)                            # folder/show.mp3, show.ogg; -> {"mp3_s": ..., ...}

The MP3s are constant bit rate, mono, 22,050 Hz, without ID3 or Xing headers, so the stream
can play one show's frames after another's. Every file is written under a temporary name
and renamed. What it leaves out: neural voices (none ships its English voice files in a
Debian or PyPI package we found; see docs/radio.md).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import wave
from pathlib import Path
from typing import Any

from islands.errors import IslandsError
from islands.radio.extract import write_atomic
from islands.radio.shows import WORDS_PER_MINUTE, Host, Line

__all__ = ["MP3_BITRATE", "AudioError", "duration", "encode", "silence_mp3", "speak", "vtt"]

MP3_BITRATE = 48_000  # bits/s: the stream paces itself by it
SAMPLE_RATE = 22_050
PAUSE_S = 0.35


class AudioError(IslandsError):
    """espeak-ng or ffmpeg is missing or failed."""


def _need(tool: str) -> str:
    found = shutil.which(tool)
    if found is None:
        raise AudioError(f"{tool} is not installed (Debian: apt-get install {'espeak-ng' if tool == 'espeak-ng' else 'ffmpeg'})")
    return found


def _run(cmd: list[str], stdin: str | None = None) -> None:
    p = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        last = (p.stderr.strip().splitlines() or [f"exit {p.returncode}"])[-1]
        raise AudioError(f"{Path(cmd[0]).name} failed: {last}")


def _speakable(text: str) -> str:
    return "".join(c if c.isprintable() else " " for c in text).replace("[", "(").replace("]", ")")


def _stamp(t: float) -> str:
    h, rest = divmod(t, 3600)
    m, s = divmod(rest, 60)
    return f"{int(h):02d}:{int(m):02d}:{s:06.3f}"


def vtt(segments: list[dict[str, Any]]) -> str:
    """WebVTT with one cue per line, the host as the cue's voice."""
    cues = [f"{_stamp(s['start'])} --> {_stamp(s['end'])}\n<v {s['host']}>{s['text']}" for s in segments]
    return "WEBVTT\n\n" + "\n\n".join(cues) + "\n"


def speak(lines: list[Line], hosts: list[Host], folder: Path, *, wpm: int = WORDS_PER_MINUTE) -> float:
    """Speak every line (espeak-ng, the host's voice), join them; returns the show's seconds."""
    espeak = _need("espeak-ng")
    voices = {h.name: h.voice for h in hosts}
    work = folder / ".lines.part"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    segments: list[dict[str, Any]] = []
    out_tmp = folder / ".show.wav.part"
    t = 0.0
    with wave.open(str(out_tmp), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        gap = b"\x00\x00" * int(PAUSE_S * SAMPLE_RATE)
        for i, line in enumerate(lines):
            wav = work / f"{i}.wav"
            _run([espeak, "-v", voices[line.host], "-s", str(wpm), "-w", str(wav), "--stdin"], _speakable(line.text))
            with wave.open(str(wav), "rb") as w:
                if (w.getnchannels(), w.getsampwidth(), w.getframerate()) != (1, 2, SAMPLE_RATE):
                    raise AudioError(f"espeak-ng wrote {w.getnchannels()} channels at {w.getframerate()} Hz; expected mono {SAMPLE_RATE}")
                frames = w.readframes(w.getnframes())
                seconds = w.getnframes() / SAMPLE_RATE
            out.writeframes(frames)
            segments.append({**line.to_dict(), "voice": voices[line.host], "start": round(t, 3), "end": round(t + seconds, 3)})
            out.writeframes(gap)
            t += seconds + PAUSE_S
    shutil.rmtree(work, ignore_errors=True)
    write_atomic(folder / "transcript.json", json.dumps({"seconds": round(t, 3), "segments": segments}, indent=1))
    write_atomic(folder / "transcript.vtt", vtt(segments))
    out_tmp.replace(folder / "show.wav")
    return t


def duration(path: Path) -> float:
    """Seconds of audio in a file, as ffprobe reads it."""
    p = subprocess.run([_need("ffprobe"), "-v", "error", "-show_entries", "format=duration", "-of", "json", str(path)],
                       capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        raise AudioError(f"ffprobe cannot read {path.name}: {(p.stderr.strip().splitlines() or ['?'])[-1]}")
    return float(json.loads(p.stdout)["format"]["duration"])


_MP3 = ["-ac", "1", "-ar", str(SAMPLE_RATE), "-c:a", "libmp3lame", "-b:a", f"{MP3_BITRATE // 1000}k",
        "-write_xing", "0", "-id3v2_version", "0", "-map_metadata", "-1", "-f", "mp3"]


def encode(folder: Path) -> dict[str, float]:
    """show.wav -> show.mp3 and show.ogg; the WAV is removed once both are in place."""
    ffmpeg = _need("ffmpeg")
    wav = folder / "show.wav"
    if not wav.exists():
        raise AudioError(f"nothing to encode: {wav} is missing")
    mp3, ogg = folder / ".show.mp3.part", folder / ".show.ogg.part"
    _run([ffmpeg, "-y", "-v", "error", "-i", str(wav), *_MP3, str(mp3)])
    _run([ffmpeg, "-y", "-v", "error", "-i", str(wav), "-c:a", "libvorbis", "-q:a", "2", "-f", "ogg", str(ogg)])
    mp3.replace(folder / "show.mp3")
    ogg.replace(folder / "show.ogg")
    return {"mp3_s": duration(folder / "show.mp3"), "ogg_s": duration(folder / "show.ogg")}


def silence_mp3(path: Path, seconds: float = 2.0) -> Path:
    """An MP3 of silence in the stream's format: what the station plays when it has no show yet."""
    if not path.exists():
        tmp = path.with_name(f".{path.name}.part")
        _run([_need("ffmpeg"), "-y", "-v", "error", "-f", "lavfi", "-i", f"anullsrc=r={SAMPLE_RATE}:cl=mono", "-t", str(seconds),
              *_MP3, str(tmp)])
        tmp.replace(path)
    return path
