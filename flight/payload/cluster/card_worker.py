"""A card worker: one process, one ONNX Runtime session, like one accelerator board.

Started by the cluster as ``python -m flight.payload.cluster.card_worker --config JSON``, with its end
of the card link (flight.payload.cluster.card_link) as the inherited descriptor ``fd``. It attaches the
flight's shared-memory slots, loads the model and says HELLO with the model's CRC-32C (the
cluster refuses a card whose model does not match), then serves INFER requests: it computes
directly on views of the slots (zero-copy when the batch's slots are consecutive, as they
mostly are; otherwise the batch is stacked), and answers RESULT with its compute time. A
heartbeat thread sends HEARTBEAT on the same link every ``heartbeat_s``, so that a stopped or
frozen process is noticed even when idle. When the flight's end of the link closes (the flight
process is gone, SIGKILL included) the worker exits: no orphaned cards.

Log: with ``log`` in its configuration (flight.core.log_files.child_log) the worker writes its own
rotating file beside the flight's, ``flight.card0.log``: its start (pid, model CRC, the providers
ONNX Runtime took). What it writes to stderr (a crash's traceback, ONNX Runtime's own
warnings) goes to the flight's stderr, which it inherits.

Faults on command (FAULT), for tests and fault-injection campaigns: ``slow`` (each inference
takes ``factor`` times as long), ``hang`` (the process stops itself with SIGSTOP, like a wedged
board: no results, no heartbeats), ``crash`` (exits at once), ``wrong`` (flips one bit of every
result), and the radiation effects of flight.payload.cluster.board: ``latchup`` (the board draws
``factor`` x its active power more, reported with every heartbeat as its supply reading; it burns
out if its power is not cycled within the board's burn time), ``sefi`` (inferences are no longer
answered, heartbeats go on, until the process is restarted), ``tid`` (each inference from now on
adds ``factor`` percent of slowdown, kept across restarts); ``clear`` ends slow, wrong and SEFI and
fits a fresh board (no dose).

Weights: with ``weights`` in its configuration (live mode) the worker computes from the flight's
shared-memory copy of the weights in place (see flight.payload.cluster.weights); without it
(optimized mode) ONNX Runtime optimizes fully and keeps private weights, which REFRESH rebuilds
from the model file after checking its CRC-32C.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from multiprocessing import resource_tracker, shared_memory

import numpy as np
import onnxruntime as ort

from flight.core.log_files import configure_child
from flight.payload.cluster import card_protocol as msg
from flight.payload.cluster.board import BURNED_EXIT, Board
from flight.payload.cluster.card_link import MAX_CONTROL_MESSAGE, worker_socket
from flight.payload.cluster.slots import SlotPool
from flight.payload.cluster.weights import live_options, weight_views
from native import crc32c

log = logging.getLogger("flight.payload.cluster.card_worker")   # run as __main__


class CardWorker:
    def __init__(self, config: dict) -> None:
        self.config = config
        self.name = config["name"]
        self.slots = SlotPool(config["slot_count"], tuple(config["slot_shape"]), config["slot_dtype"],
                              name=config["shm_name"])
        model_bytes = open(config["model"], "rb").read()
        self.model_crc = crc32c(model_bytes)
        self.weights = self._attach_weights(config.get("weights"))
        self.session = self._session(model_bytes)
        self.input_name = self.session.get_inputs()[0].name
        self.output_names = [o.name for o in self.session.get_outputs()]
        if any(o.type != "tensor(float)" for o in self.session.get_outputs()):
            raise ValueError("every model output must be float32 (results are float32 records)")
        self.slow_factor = 1.0
        self.wrong = False
        self.sefi = False
        boards = config.get("boards_dir")
        self.board = Board(Path(boards) / f"{self.name}.json" if boards else None, config.get("burn_s", 1.0))
        if self.board.burned:
            os._exit(BURNED_EXIT)

    def _attach_weights(self, weights: dict | None) -> dict[str, ort.OrtValue]:
        """OrtValues over the live weights in the flight's shared memory (none: optimized mode)."""
        if not weights:
            return {}
        self._weights_block = shared_memory.SharedMemory(name=weights["shm_name"])
        resource_tracker.unregister(self._weights_block._name, "shared_memory")  # the flight's
        views = weight_views(self._weights_block.buf, weights["layout"])
        return {name: ort.OrtValue.ortvalue_from_numpy(view) for name, view in views.items()}

    def _session(self, model_bytes: bytes) -> ort.InferenceSession:
        threads = int(self.config.get("threads", 1))
        if self.weights:  # live weights: compute in place from the flight's scrubbed copy
            options = live_options(self.weights, threads)
        else:  # optimized: private weights, protected by refresh from the model file and voting
            options = ort.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        providers = [p if isinstance(p, str) else tuple(p) for p in self.config["providers"]]
        return ort.InferenceSession(model_bytes, options, providers=providers)

    def _refresh(self) -> None:
        """Rebuild the session from the model file, if it still has the CRC-32C loaded at start."""
        model_bytes = open(self.config["model"], "rb").read()
        if crc32c(model_bytes) != self.model_crc:
            raise RuntimeError("model file CRC changed: refresh refused")
        self.session = self._session(model_bytes)

    def _heartbeat(self) -> None:
        """A heartbeat every ``heartbeat_s``; if the flight's end is closed (it is gone), exit."""
        period = self.config.get("heartbeat_s", 0.2)
        count = 0
        while True:
            if self.board.check_burn():
                os._exit(BURNED_EXIT)
            try:
                self.socket.send(msg.pack_heartbeat(count, self.board.excess_w))
            except OSError:  # the flight process is gone: this card was orphaned
                os._exit(0)
            count += 1
            time.sleep(period)

    def _infer(self, slots: list[int]) -> tuple[bytes, int]:
        batch = self.slots.batch(slots)
        began = time.perf_counter_ns()
        outputs = self.session.run(self.output_names, {self.input_name: batch})
        compute_ns = time.perf_counter_ns() - began
        slow = self.slow_factor * self.board.slowdown()
        if slow > 1.0:
            time.sleep(compute_ns * (slow - 1.0) / 1e9)
            compute_ns = time.perf_counter_ns() - began
        records = np.concatenate([o.reshape(len(slots), -1) for o in outputs], axis=1).tobytes()
        if self.wrong:  # flip the lowest bit of the first byte of the first output, every frame
            records = bytes([records[0] ^ 1]) + records[1:]
        return records, compute_ns

    def _fault(self, fault: dict) -> None:
        kind = fault["kind"]
        if kind == "clear":
            self.slow_factor, self.wrong, self.sefi = 1.0, False, False
            self.board.replace()
        elif kind == "slow":
            self.slow_factor = max(1.0, float(fault.get("factor", 4.0)))
        elif kind == "wrong":
            self.wrong = True
        elif kind == "hang":
            os.kill(os.getpid(), signal.SIGSTOP)
        elif kind == "crash":
            os._exit(70)
        elif kind == "latchup":
            self.board.latch_up(float(fault.get("factor", 2.0)) * float(self.config.get("active_w", 25.0)))
        elif kind == "sefi":
            self.sefi = True
        elif kind == "tid":
            self.board.irradiate(float(fault.get("factor", 10.0)))

    def serve(self) -> None:
        link = self.socket = worker_socket(int(self.config["fd"]))
        link.send(msg.pack_json(msg.HELLO, {
            "name": self.name, "pid": os.getpid(), "model_crc32c": self.model_crc,
            "providers": self.session.get_providers(),
            "threads": int(self.config.get("threads", 1))}))
        threading.Thread(target=self._heartbeat, daemon=True).start()
        try:
            self._serve(link)
        except (BrokenPipeError, ConnectionResetError):  # the flight process is gone
            return

    def _serve(self, link: socket.socket) -> None:
        while True:
            message = link.recv(MAX_CONTROL_MESSAGE)
            if not message:  # end-of-file: the flight process is gone
                return
            kind, body = msg.split(message)
            if kind == msg.INFER:
                if self.sefi:   # a functional interrupt: the request is never answered
                    continue
                request_id, slots = msg.unpack_infer(body)
                try:
                    records, compute_ns = self._infer(slots)
                except Exception as error:  # report it; the cluster decides what it means
                    link.send(msg.pack_error(request_id, repr(error)))
                    continue
                link.send(msg.pack_result(request_id, compute_ns, records))
            elif kind == msg.FAULT:
                self._fault(json.loads(body))
            elif kind == msg.REFRESH and not self.sefi:
                try:
                    self._refresh()
                except Exception as error:  # reported as an error of request 0: the cluster resets us
                    link.send(msg.pack_error(0, repr(error)))
            elif kind == msg.STOP:
                return


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="orbitfs card worker (started by the cluster)")
    parser.add_argument("--config", required=True, help="JSON configuration")
    args = parser.parse_args(argv)
    config = json.loads(args.config)
    configure_child(config.get("log"))
    worker = CardWorker(config)
    log.info("%s pid %d: model CRC-32C %08x, providers %s", worker.name, os.getpid(), worker.model_crc,
             worker.session.get_providers())
    worker.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
