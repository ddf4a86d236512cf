"""RunData: what a ground archive holds, as time series a report can draw.

Reads any SQLite archive of :class:`ground_sim.archive.PacketArchive` (read-only, so a running
station's archive can be reported too) and decodes its raw TM packets with the flight's
dictionary (:class:`ground_sim.decoder.TmDecoder`), not with what the archive's ``decoded`` column
says: the dictionary is the authority. Housekeeping TM[3,25] becomes one (on-board time, value)
series per channel, TM[200,1] products become their on-board times, and the archive's ``pass``
rows become (AOS, LOS) intervals in mission time. A packet that does not decode is counted in
``undecodable``, never fatal. ``wanted`` keeps only the channels a caller draws: only the
housekeeping structures holding one (or unknown to the dictionary: counted undecodable) are read,
selected by their structure id in SQL, so a day's archive is read quickly and in bounded memory.

| requirement | verified by |
|---|---|
| the series are the archive's housekeeping decoded with the dictionary; the product count is |   |
|   the archive's product packets | tests/unit/ground/test_run_report.py |
| a missing or unreadable archive raises ReportInputError with one line | tests/unit/ground/test_run_report.py |
"""
from __future__ import annotations

import json
import sqlite3
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from flight.wire import services as st
from flight.wire.dictionary import Dictionary
from flight.wire.pus import PRIMARY_HEADER_SIZE, TM_SECONDARY_HEADER_SIZE, TelemetryPacket
from ground_sim.decoder import TmDecoder

Series = list[tuple[float, float]]  # (on-board time in s since the epoch, value), in time order
STRUCTURE_AT = PRIMARY_HEADER_SIZE + TM_SECONDARY_HEADER_SIZE + 1  # SQL substr() position of an HK structure id


class ReportInputError(Exception):
    """The archive (or dictionary) cannot be read: one line naming it and why."""


@dataclass
class RunData:
    """Time series of one archive; ``start`` is the first on-board time seen (the x origin)."""

    channels: dict[str, Series] = field(default_factory=dict)
    products: list[float] = field(default_factory=list)
    passes: list[tuple[float, float | None]] = field(default_factory=list)  # (AOS, LOS or None: open)
    reports: int = 0  # housekeeping reports read
    undecodable: int = 0

    @property
    def start(self) -> float:
        firsts = [s[0][0] for s in self.channels.values() if s] + self.products[:1]
        return min(firsts) if firsts else 0.0

    @property
    def end(self) -> float:
        lasts = [s[-1][0] for s in self.channels.values() if s] + self.products[-1:]
        return max(lasts) if lasts else 0.0

    def has(self, name: str) -> bool:
        return bool(self.channels.get(name))

    def last(self, name: str, default: float | None = None) -> float | None:
        series = self.channels.get(name)
        return series[-1][1] if series else default


def _connect(archive: Path) -> sqlite3.Connection:
    if not archive.is_file():
        raise ReportInputError(f"archive {archive} does not exist (expected a ground archive.sqlite)")
    try:
        db = sqlite3.connect(f"file:{archive}?mode=ro", uri=True)
        db.execute("SELECT raw, time_cuc FROM packets LIMIT 1")
        return db
    except sqlite3.Error as error:
        raise ReportInputError(f"archive {archive} is not a ground archive: {error}") from None


def load_run(archive: str | Path, dictionary: Dictionary,
             wanted: Callable[[str], bool] = lambda name: True) -> RunData:
    """The samples of the ``wanted`` channels, the product times and the passes of ``archive``,
    decoded with ``dictionary``."""
    db = _connect(Path(archive))
    decoder, data = TmDecoder(dictionary), RunData()
    unwanted = [struct.pack(">H", h.structure_id) for h in dictionary.housekeeping  # unknown ones are read
                if not any(wanted(dictionary.channel_by_id[c].name) for c in h.channels)]
    try:
        rows = db.execute("SELECT service, subtype, raw FROM packets WHERE direction = 'down' AND "
                          f"((service = ? AND subtype = ? AND substr(raw, {STRUCTURE_AT}, 2) NOT IN "
                          f"({', '.join('?' * len(unwanted))})) OR (service = ? AND subtype = ?)) ORDER BY id",
                          (st.HOUSEKEEPING, st.HK_REPORT, *unwanted, st.PRODUCT, st.INFERENCE_PRODUCT))
        for service, _subtype, raw in rows:
            try:
                if service == st.PRODUCT:
                    data.products.append(TelemetryPacket.decode(raw).time)
                    continue
                decoded = decoder.decode(raw)
            except (ValueError, KeyError, struct.error):  # bad CRC or layout, ids this dictionary lacks
                data.undecodable += 1
                continue
            data.reports += 1
            for name, value in decoded.value.items():
                if wanted(name) and isinstance(value, (int, float)):  # bool is an int; string channels are not drawn
                    data.channels.setdefault(name, []).append((decoded.packet.time, float(value)))
        data.passes = _passes(db.execute("SELECT decoded FROM packets WHERE direction = 'pass' ORDER BY id"))
    except sqlite3.Error as error:
        raise ReportInputError(f"archive {archive} cannot be read: {error}") from None
    finally:
        db.close()
    for series in data.channels.values():
        series.sort(key=lambda sample: sample[0])
    data.products.sort()
    return data


def _passes(rows: sqlite3.Cursor) -> list[tuple[float, float | None]]:
    """(AOS, LOS) in mission time from the archive's pass rows; a pass without its LOS stays open."""
    passes: list[tuple[float, float | None]] = []
    for (text,) in rows:
        row = json.loads(text or "{}")
        if row.get("event") == "AOS":
            passes.append((float(row["mission_time"]), None))
        elif row.get("event") == "LOS" and passes and passes[-1][1] is None:
            passes[-1] = (passes[-1][0], float(row["mission_time"]))
    return passes


def intervals(series: Series, predicate: bool = True) -> list[tuple[float, float]]:
    """The time intervals over which a boolean series equals ``predicate`` (to its next sample)."""
    spans: list[tuple[float, float]] = []
    begin = None
    for time_, value in series:
        if bool(value) == predicate and begin is None:
            begin = time_
        elif bool(value) != predicate and begin is not None:
            spans.append((begin, time_))
            begin = None
    if begin is not None and series:
        spans.append((begin, series[-1][0]))
    return spans
