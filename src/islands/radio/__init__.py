"""Paper Radio: a folder of papers becomes summaries, daily and weekly shows, and an
endless audio stream with a podcast feed.

    from islands.radio import Station, run_station
    station = Station(Path("radio"))
    station.add([Path("inbox/")])                      # a watched folder of PDFs (and feeds)
    run_station(Path("radio"), lambda: islands.Engine())  # extract -> summarize -> embed -> write -> speak -> encode

The pipeline's stages are jobs in one SQLite queue (`islands.radio.queue`), so a killed run
resumes where it stopped; `islands.radio.serve` plays the finished shows.
"""

from islands.radio.extract import BadPaper
from islands.radio.queue import JobQueue
from islands.radio.station import Station, StationConfig
from islands.radio.worker import RunReport, run_station

__all__ = ["BadPaper", "JobQueue", "RunReport", "Station", "StationConfig", "run_station"]
