"""FlightProcess: start the flight executive as a real separate process and connect a ground.

The flight binds ZeroMQ wildcard ports (``tcp://127.0.0.1:*``) unless told otherwise, and writes
its actual endpoints to ``flight-ready.json`` in its run directory; this class waits for that
file, so parallel runs never race for ports. The flight logs to ``flight.log`` (and each card worker
to its own ``flight.<card>.log``) in the run directory; its stdout and stderr, which carry no log
record, only what is not one (a refusal's one line, a crash's traceback, faulthandler's output),
go to ``flight.out``. A start that fails is reported with the last line of ``flight.out`` as its
reason and the tails of both files.

Keys: unless the run directory has them, :meth:`FlightProcess.start` makes a fresh key file for
the link (flight.wire.keyfile) and gives each end its copy: ``keys/flight.json`` (the default
``[mission.link] key_file``) and ``keys/ground.json``, which :meth:`connect` uses, with the
ground's IV reservation in ``keys/ground.state``.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from flight.services.link_security import CurveClient
from flight.wire.dictionary import Dictionary
from flight.wire.keyfile import KeyRing
from ground_sim.archive import PacketArchive
from ground_sim.station import GroundStation


class FlightStartError(RuntimeError):
    """The flight exited (or hung) before it was ready; ``returncode`` 2 means it refused its configuration."""

    def __init__(self, message: str, returncode: int | None, reason: str) -> None:
        super().__init__(message)
        self.returncode, self.reason = returncode, reason


class FlightProcess:
    def __init__(self, run_dir: str | Path, topology: str | Path | None = None,
                 overrides: Sequence[str] = (), bind_host: str = "127.0.0.1") -> None:
        self.run_dir = Path(run_dir)
        self.topology = topology
        self.overrides = [f"comms.tc_endpoint=\"tcp://{bind_host}:*\"",
                          f"comms.tm_endpoint=\"tcp://{bind_host}:*\"", *overrides]
        self.process: subprocess.Popen | None = None
        self.ready: dict = {}

    def start(self, timeout: float = 60.0) -> dict:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.ground_keys = make_keys(self.run_dir / "keys")
        ready_file = self.run_dir / "flight-ready.json"
        ready_file.unlink(missing_ok=True)
        command = [sys.executable, "-m", "flight", "--run-dir", str(self.run_dir)]
        if self.topology:
            command += ["--topology", str(self.topology)]
        for override in self.overrides:
            command += ["--set", override]
        self._output = open(self.run_dir / "flight.out", "wb")
        self.process = subprocess.Popen(command, stdout=self._output, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while not ready_file.exists():
            if self.process.poll() is not None:
                tail = self.output_tail()
                raise FlightStartError(f"flight exited with {self.process.returncode} before it was "
                                       f"ready:\n{self._tails()}", self.process.returncode, tail.rpartition("\n")[2])
            if time.monotonic() > deadline:
                self.kill()
                raise FlightStartError(f"flight not ready after {timeout} s:\n{self._tails()}", None,
                                       f"not ready after {timeout} s")
            time.sleep(0.05)
        self.ready = json.loads(ready_file.read_text())
        return self.ready

    def connect(self, archive: str | Path | PacketArchive = "archive.sqlite",
                curve: CurveClient | None = None, via: tuple[str, str] | None = None,
                **station_options: Any) -> GroundStation:
        """A started GroundStation on this flight's endpoints (or ``via``: the TC and TM endpoints of a
        link between them, ground_sim.link_relay) and dictionary, archiving to ``archive``: an open
        PacketArchive, or a path (relative to the run directory); ``curve``: the ground's keys when
        the flight's link uses CURVE; ``station_options``: GroundStation's and FOP-1's."""
        dictionary = Dictionary.load(self.ready["dictionary"])
        if not isinstance(archive, PacketArchive):
            archive = self.run_dir / archive
        tc, tm = via or (self.ready["tc_endpoint"], self.ready["tm_endpoint"])
        return GroundStation(dictionary, tc, tm, archive, curve, keys=self.ground_keys,
                             link_state=self.ground_keys.with_suffix(".state"), **station_options).start()

    def wait(self, timeout: float) -> int:
        assert self.process is not None
        return self.process.wait(timeout)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if hasattr(self, "_output"):
            self._output.close()

    def output_tail(self, lines: int = 40, name: str = "flight.out") -> str:
        """The last ``lines`` lines of the flight's file ``name`` in the run directory ("" if none)."""
        path = self.run_dir / name
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def _tails(self) -> str:
        return f"flight.log:\n{self.output_tail(20, 'flight.log')}\nflight.out:\n{self.output_tail()}"


def make_keys(folder: Path) -> Path:
    """A fresh key file for both ends in ``folder`` unless one is there: the ground's copy's path."""
    flight, ground = folder / "flight.json", folder / "ground.json"
    if not flight.exists():
        ring = KeyRing.create()
        ring.save(ground)
        ring.save(flight)
    return ground
