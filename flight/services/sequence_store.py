"""SequenceStore: the request sequences loaded on board and the names of those running, on disk
so they survive a restart, a SIGKILL at any instant included.

One :class:`flight.core.durable.DurableRecord` (two slots, CRC-32C, ``fdatasync``): every change
(a load, an unload, an activation, an end) rewrites the record whole, which is small (a few
sequences of a few dozen steps) and on disk when the call returns; a save torn by a crash leaves
the previous record. A sequence is listed *running* from its activation (on disk before its first
step is released) until it ends; a store opened with running names lists them in
:attr:`SequenceStore.interrupted` and clears them: the sequencer reports them and never resumes
them, so no step runs twice (at most once, as flight.services.schedule_store).

A file that is not a record of this size (``slot_octets`` changed, or damage) is moved aside
(``.corrupt-N``) and an empty store started; :attr:`SequenceStore.recovered` says why.

| requirement | verified by |
|---|---|
| the sequences are what a model says across reopening (hypothesis) | tests/unit/services/test_sequencer.py |
| running names at open are reported once and cleared | tests/unit/services/test_sequencer.py |
"""
from __future__ import annotations

import json
from pathlib import Path

from flight.core.durable import HEADER, DurableRecord, DurableRecordError
from flight.wire.sequencing import Step


class SequenceStore:
    def __init__(self, path: str | Path, slot_octets: int) -> None:
        self.path = Path(path)
        self.slot_octets = slot_octets
        self.recovered: str | None = None
        try:
            self._record = DurableRecord(self.path, slot_octets)
        except DurableRecordError as error:
            number = 1 + sum(1 for _ in self.path.parent.glob(f"{self.path.name}.corrupt-*"))
            self.path.rename(self.path.with_name(f"{self.path.name}.corrupt-{number}"))
            self.recovered = f"{error}: moved aside, no sequences loaded"
            self._record = DurableRecord(self.path, slot_octets)
        saved = self._record.load() or {"sequences": {}, "running": []}
        self.sequences: dict[str, list[Step]] = {
            name: [Step(delay, bytes.fromhex(request)) for delay, request in steps]
            for name, steps in saved["sequences"].items()}
        self.running: set[str] = set()
        self.interrupted: list[str] = sorted(saved["running"])
        if self.interrupted:
            self._save(self.sequences, self.running)

    def close(self) -> None:
        self._record.close()

    @staticmethod
    def _body(sequences: dict[str, list[Step]], running: set[str]) -> dict:
        return {"sequences": {name: [[s.delay_ms, s.request.hex()] for s in steps]
                              for name, steps in sequences.items()}, "running": sorted(running)}

    def fits(self, sequences: dict[str, list[Step]]) -> bool:
        """Whether ``sequences``, all running, would fit the record."""
        body = json.dumps(self._body(sequences, set(sequences)), separators=(",", ":"), sort_keys=True)
        return HEADER.size + len(body) <= self.slot_octets

    def _save(self, sequences: dict[str, list[Step]], running: set[str]) -> None:
        self._record.save(self._body(sequences, running))
        self.sequences, self.running = sequences, running

    def load(self, name: str, steps: list[Step]) -> None:
        self._save({**self.sequences, name: list(steps)}, self.running)

    def unload(self, name: str) -> None:
        self._save({n: s for n, s in self.sequences.items() if n != name}, self.running)

    def set_running(self, name: str, running: bool) -> None:
        self._save(self.sequences, self.running | {name} if running else self.running - {name})
