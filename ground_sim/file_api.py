"""OnboardFilesApi: the scenario API's verbs for the flight's files and the model that flies (a
base class of ground_sim.api.IntegrationApi): files up and down by CFDP (ground_sim.files), the
file store by PUS ST[23] (flight.services.file_transfer), and the in-orbit model update
(flight.payload.cluster.model_update)."""
from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any, Callable

from flight.wire import file_management as fm
from ground_sim.decoder import EventRecord
from ground_sim.station import CommandRecord, GroundStation


class OnboardFilesApi:
    # provided by IntegrationApi
    station: GroundStation
    _wait_for: Callable[..., Any]
    await_verification: Callable[..., CommandRecord]
    send_and_assert_command: Callable[..., CommandRecord]
    event_mark: Callable[[], int]

    _downloads: itertools.count      # names the flight sends downloads as (set by IntegrationApi)

    # --- files (CFDP and ST[23], flight.services.file_transfer; ground_sim.files) ----------------------
    def upload_file(self, local_path: str | Path, remote_name: str, timeout: float = 600.0) -> None:
        """Send a local file to the flight's file store as ``remote_name``; wait for its CFDP Finished
        (delivery complete, file retained): AssertionError naming what happened otherwise."""
        self.station.files.upload(Path(local_path), remote_name).wait(timeout)

    def download_file(self, remote_path: str, local_path: str | Path, timeout: float = 600.0) -> None:
        """Have the flight send ``remote_path`` (relative to its run directory; TC[23,128], asserted
        completed) and wait until it is at ``local_path`` whole: AssertionError otherwise."""
        name = f"{next(self._downloads)}-{Path(remote_path).name}"[:200]
        transfer = self.station.files.expect(name, Path(local_path))
        self._file_request(fm.DOWNLINK_FILE, fm.pack_strings(remote_path, name), f"downlink {remote_path}", timeout)
        transfer.wait(timeout)

    def file_directory(self, repository: str = "files", timeout: float | None = None) -> list[fm.Entry]:
        """TC[23,12]: the objects of ``repository`` (a folder of the flight's run directory)."""
        with self.station.changed:
            mark = len(self.station.directory_reports)
        self._file_request(fm.SUMMARY_REPORT, fm.pack_strings(repository), f"report {repository}", timeout)
        return self._wait_for(lambda: next((entries for name, entries in self.station.directory_reports[mark:]
                                            if name == repository), None), timeout, lambda: "TM[23,13]")

    def delete_file(self, name: str, repository: str = "files", timeout: float | None = None) -> CommandRecord:
        """TC[23,2]: delete ``name`` from the flight's file store, asserted completed."""
        return self._file_request(fm.DELETE_FILE, fm.pack_strings(repository, name), f"delete {name}", timeout)

    def _file_request(self, subtype: int, data: bytes, label: str, timeout: float | None) -> CommandRecord:
        record = self.await_verification(self.station.send(self.station.encoder.service(fm.SERVICE, subtype, data),
                                                           label), timeout)
        assert record.completed and record.failure is None, f"{record}"
        return record

    # --- model update -------------------------------------------------------------------------
    def update_model(self, name: str, crc: int, frames: int = 0, card: str = "",
                     timeout: float | None = None) -> EventRecord:
        """Stage the model ``name`` of the flight's file store (CRC-32C ``crc``, its test vector beside
        it: ground_sim.model_package) and run its canary (``frames``: 0 for the flight's setting; ``card``:
        "" for the flight's choice); the event that ended the update: ModelCommitted or ModelRolledBack."""
        mark = self.event_mark()
        self.send_and_assert_command("cluster.STAGE_MODEL", [name, crc], timeout)
        self.send_and_assert_command("cluster.START_CANARY", [frames, card], timeout)
        ends = ("cluster.ModelCommitted", "cluster.ModelRolledBack")
        return self._wait_for(lambda: next((e for e in self.station.events[mark:] if e.name in ends), None),
                              timeout, lambda: "the end of the model update")
