"""TM store upset trials, in process, on the flight's own classes: a bit flips in the durable TM
store's database file while the flight is down, and the store is opened and read out for downlink
as at the next start.

The store (flight.services.tm_store.TmStore: SQLite in WAL mode, a CRC-32C per record's packet) is
filled once per process, as comms fills it: reports of the kinds the flight stores (housekeeping
every tick, events, some of them alerts, and inference products, an alert when a cell is on fire)
queued with ``TmDownlink.put`` and committed a tick at a time by the downlink's own commit step
(``TmDownlink._commit``, run here without its thread), numbered by the flight; then the ground
acknowledges the oldest of them (tombstones, pruned down to ``TOMBSTONES`` as the store goes on: freed pages) and the
store is closed, as at a flight stop. Closing the last connection checkpoints the WAL into the main
database file and deletes the WAL, so at a restart that one file is the whole store: it is what the
upset hits (an upset in a WAL left by a crash is not modelled; SQLite checks each WAL frame's own
checksum when it recovers one). Its bytes are the fixed image every trial starts from (the same in
every process: built from fixed reports, nothing timed).

A trial (:func:`run_store_trial`) is one planned upset (:class:`StoreUpset`: byte of the file, bit
mask) drawn from the trial's seed alone (the kinds of campaign.weights_trial.draw_mask): the image
written into a fresh temporary folder, the upset made in the file on disk, the store opened as comms
does (``TmStore(path, capacity)``), and every record read out as the downlink thread does (``take``
from each class's cursor, leaving out what went, until nothing is left; each packet offered to the
flight's ``TmFramer``, which refuses a packet whose header no longer matches its length). The
folder is removed after the trial, whatever happened. Outcomes, against the packets read from the
intact image:

- ``crash``: the store's code (or the framer) raised: the downlink thread would die on it, and
  again after every restart;
- ``sdc``: a packet delivered that differs from every golden one, or a golden packet missing with
  nothing said about it (``lost_silently``: no corrupt record counted, no framer refusal, no move aside);
- ``due``: packets withheld and the flight says so: records refused by their CRC (counted:
  ``TmDroppedCorrupt``), or lost with the database moved aside (``StoreRecovered`` event, which
  says how many records the salvage kept);
- ``corrected``: the database moved aside and every golden packet salvaged and delivered intact
  (flight.services.tm_salvage);
- ``masked``: every golden packet delivered intact (``metadata_changed`` counts those whose
  record's columns outside the CRC changed: sequence number, virtual channel, time stored).

Each result names the byte (``offset``), its ``page``, the ``part`` of the file (``header``: the
database header; ``schema``, ``records``, ``index``, ``counters``: a page of that b-tree; ``free``:
a page on the free list), the ``area`` of the page (page header, cell pointers, unallocated, cells;
on the free list: the used bytes of a trunk page, or free), the bit position in the byte and the kind.

| requirement | verified by |
|---|---|
| hand-built upsets classified so: a record's packet bytes (due, the CRC refuses it), free space |   |
|   (masked), the database header and a records page header (due, moved aside) |   |
|   | tests/unit/campaign/test_store_trial.py |
| no single-bit upset of a record's packet bytes delivers a wrong packet (hypothesis) |   |
|   | tests/unit/campaign/test_store_trial.py |
| the image is the same at every build; a trial replayed alone gives the same result; no trial |   |
|   leaves a file behind | tests/unit/campaign/test_store_trial.py |
"""
from __future__ import annotations

import logging
import random
import sqlite3
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from campaign.weights_trial import draw_mask
from flight.core.types import Severity
from flight.messages import Product
from flight.services.tm_downlink import TmDownlink, store_class
from flight.services.tm_framer import TmFramer
from flight.services.tm_store import StoreClass, StoredRecord, TmStore
from flight.wire import services as st
from flight.wire.link import LinkParameters

FILE = "tm_store.sqlite"
APID = 1                    # the flight's (flight/topologies/default.toml)
CAPACITY = 256 << 20        # comms' tm_store_octets
TOMBSTONES = 16             # few, so that pruning frees pages
TICKS = 160                 # one housekeeping report a tick, an event every 4th, a product every 2nd
PASS = 120                  # the tick of a pass: the ground acknowledges what was stored until then
LINK = LinkParameters()
PARTS = {"sqlite_schema": "schema", "records": "records", "by_time": "index", "by_class": "index",
         "counters": "counters", "sqlite_autoindex_counters_1": "counters", "sqlite_sequence": "counters"}


@dataclass(frozen=True)
class StoreUpset:
    """One upset: which byte of the database file, which bits (``mask``)."""

    offset: int
    mask: int
    kind: str


def _reports(seed: int) -> list[list[tuple[int, int, bytes, StoreClass]]]:
    """Each tick's reports (service, subtype, application data, class), from ``seed`` alone."""
    rng = np.random.default_rng(seed)
    ticks = []
    for tick in range(TICKS):
        reports = [(st.HOUSEKEEPING, st.HK_REPORT, struct.pack(">H", 1) + rng.bytes(40), StoreClass.HOUSEKEEPING)]
        if tick % 4 == 0:
            severity = Severity(1 + tick // 4 % 4)
            reports.append((st.EVENT, int(severity), struct.pack(">H", tick % 7) + rng.bytes(8),
                            store_class(st.EVENT, int(severity))))
        if tick % 2 == 0:
            fire = rng.random(8 * 8).reshape(8, 8) < 0.003
            product = Product(tick, int(rng.integers(3)), float(rng.random()), float(rng.random()), fire, 4000, 0xFF)
            reports.append((st.PRODUCT, st.INFERENCE_PRODUCT, st.pack_product(product),
                            StoreClass.ALERT if fire.any() else StoreClass.PRODUCT))
        ticks.append(reports)
    return ticks


def build_image(folder: Path, seed: int) -> bytes:
    """The store comms leaves at a stop: filled, partly acknowledged, closed; its file's bytes."""
    path = folder / FILE
    downlink = TmDownlink("comms", TmFramer(LINK), pending_max=64, ack_timeout=60.0, now=lambda: 0.0,
                          log=logging.getLogger("campaign.store_trial"))
    downlink.store = TmStore(path, CAPACITY, TOMBSTONES)
    for tick, reports in enumerate(_reports(seed)):
        if tick == PASS:
            stored = sorted(downlink.store.take(TICKS * 3), key=lambda r: r.n)
            downlink.acknowledge(APID, stored[0].time, stored[-1].time, len(stored))
        for service, subtype, data, cls in reports:
            downlink.put(APID, service, subtype, data, cls, 1000.0 + tick)
        downlink._commit()
    downlink.store.close()
    return path.read_bytes()


def _page_map(folder: Path, image: bytes) -> dict[int, tuple[str, str]]:
    """Page number -> (the b-tree it belongs to, its page type) by dbstat; pages absent are free."""
    path = folder / "map.sqlite"
    path.write_bytes(image)
    db = sqlite3.connect(path)
    try:
        return {page: (name, kind) for page, name, kind in db.execute("SELECT pageno, name, pagetype FROM dbstat")}
    finally:
        db.close()


@dataclass
class ReadOut:
    """What the downlink got from a store: packets delivered, records refused (CRC, framer), a move aside."""

    delivered: list[StoredRecord]
    refused: int
    recovered: bool


def read_out(path: Path) -> ReadOut:
    """Open the store at ``path`` as comms does and read every record out as the downlink thread
    does; exceptions out of the store or the framer propagate (the trial calls them a crash)."""
    store = TmStore(path, CAPACITY, TOMBSTONES)
    try:
        framer, refused = TmFramer(LINK), 0
        cursor: dict[StoreClass, int] = {}
        sent: dict[int, StoreClass] = {}
        delivered: list[StoredRecord] = []
        while records := store.take(TmDownlink.BATCH, sent, cursor):
            for record in records:      # one at a time, so that a refusal names its packet
                _, bad = framer.frames([(record.packet, record.vcid, record.stored)], 1000.0 + TICKS)
                refused += bad
                if not bad:
                    delivered.append(record)
                cursor[record.cls] = max(cursor.get(record.cls, 0), record.id)
                sent[record.id] = record.cls
        return ReadOut(delivered, refused + store.stats.corrupt, store.stats.recovered is not None)
    finally:
        store.close()


class StoreBench:
    """The fixed image, its page map and page size, and the packets read from it intact."""

    def __init__(self, seed: int) -> None:
        with tempfile.TemporaryDirectory(prefix="orbitfs-store-") as folder:
            self.image = build_image(Path(folder), seed)
            self.pages = _page_map(Path(folder), self.image)
            golden = read_out(Path(folder) / FILE)
        if golden.refused or golden.recovered:
            raise RuntimeError("the intact store image does not read out whole")
        self.golden = {record.packet: record for record in golden.delivered}
        (size,) = struct.unpack_from(">H", self.image, 16)
        self.page_size = 65536 if size == 1 else size
        self.trunks = self._freelist_trunks()

    def _freelist_trunks(self) -> dict[int, int]:
        """Each free-list trunk page (the database header's chain) -> how many of its bytes are in use
        (the next trunk, a count and that many free page numbers); the other free pages hold nothing."""
        trunks, (page,) = {}, struct.unpack_from(">I", self.image, 32)
        while page:
            start = (page - 1) * self.page_size
            following, count = struct.unpack_from(">II", self.image, start)
            trunks[page], page = 8 + 4 * count, following
        return trunks

    @property
    def fault_space_bits(self) -> int:
        return len(self.image) * 8

    def locate(self, offset: int) -> dict[str, Any]:
        """The page a byte is in, the part of the file and the area of the page."""
        page, at = divmod(offset, self.page_size)
        if offset < 100:
            return {"page": 1, "part": "header", "area": "database header"}
        if page + 1 not in self.pages:
            return {"page": page + 1, "part": "free",
                    "area": "freelist trunk" if at < self.trunks.get(page + 1, 0) else "free page"}
        tree, kind = self.pages[page + 1]
        if kind == "overflow":
            return {"page": page + 1, "part": PARTS[tree], "area": "overflow"}
        head = page * self.page_size + (100 if page == 0 else 0)      # page 1 starts after the file's header
        cells, content = struct.unpack_from(">HH", self.image, head + 3)
        pointers = head + (12 if kind == "internal" else 8)
        area = ("page header" if offset < pointers else "cell pointers" if offset < pointers + 2 * cells else
                "unallocated" if at < (content or 65536) else "cells")
        return {"page": page + 1, "part": PARTS[tree], "area": area}


def plan_store_upset(bench: StoreBench, seed: int, kinds: tuple[str, ...] = ("single",)) -> StoreUpset:
    """The upset of a trial, from its seed alone."""
    rng = random.Random(seed)
    kind, mask = draw_mask(rng, kinds)
    return StoreUpset(rng.randrange(len(bench.image)), mask, kind)


def classify(bench: StoreBench, got: ReadOut) -> dict[str, Any]:
    """The outcome of a read-out against the golden packets (see the module docstring)."""
    packets = [record.packet for record in got.delivered]
    wrong = sum(packet not in bench.golden for packet in packets)
    missing = len(bench.golden.keys() - set(packets))
    lost = 0 if got.recovered else max(0, missing - got.refused)
    changed = sum(_columns(record) != _columns(bench.golden[record.packet])
                  for record in got.delivered if record.packet in bench.golden)
    outcome = ("sdc" if wrong or lost else "due" if missing or got.refused else
               "corrected" if got.recovered else "masked")
    return {"outcome": outcome, "wrong_packets": wrong, "missing": missing, "lost_silently": lost,
            "refused": got.refused, "moved_aside": got.recovered, "duplicates": len(packets) - len(set(packets)),
            "metadata_changed": changed}


def _columns(record: StoredRecord) -> tuple:
    return record.apid, record.n, record.time, record.cls, record.vcid, record.stored


def execute(bench: StoreBench, plan: StoreUpset) -> dict[str, Any]:
    """The image in a fresh folder, upset on disk, opened and read out, classified; the folder removed."""
    with tempfile.TemporaryDirectory(prefix="orbitfs-store-") as folder:
        path = Path(folder) / FILE
        path.write_bytes(bench.image)
        with open(path, "r+b") as file:
            file.seek(plan.offset)
            (byte,) = file.read(1)
            file.seek(plan.offset)
            file.write(bytes([byte ^ plan.mask]))
        try:
            got = read_out(path)
        except Exception as error:     # out of the store's API (or the framer's): the comms thread's death
            return {"outcome": "crash", "error": f"{type(error).__name__}: {error}"}
    return classify(bench, got)


def describe(bench: StoreBench, plan: StoreUpset) -> dict[str, Any]:
    """Where the upset landed: byte, page, part, area, bit positions (``bit`` when a single bit), kind."""
    bits = [b for b in range(8) if plan.mask >> b & 1]
    return {"region": "tm_store_file", "offset": plan.offset, "mask": plan.mask, "kind": plan.kind,
            **bench.locate(plan.offset), "bit": bits[0] if len(bits) == 1 else None}


_BENCHES: dict[int, StoreBench] = {}


def bench_for(config: dict[str, Any]) -> StoreBench:
    """This process's bench for the configuration (built on first use, kept for the next trials)."""
    seed = config["inputs_seed"]
    if seed not in _BENCHES:
        _BENCHES[seed] = StoreBench(seed)
    return _BENCHES[seed]


def run_store_trial(config: dict[str, Any], index: int) -> dict[str, Any]:
    """Trial ``index`` of a store-upset campaign: its plan from (master seed, index) alone, run in a
    folder of its own (removed after it), classified."""
    from campaign.executor import trial_seed

    bench = bench_for(config)
    seed = trial_seed(config["seed"], index)
    plan = plan_store_upset(bench, seed, tuple(config["kinds"]))
    return {**describe(bench, plan), **execute(bench, plan), "seed": seed}
