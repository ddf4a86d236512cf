"""The generic executor of a fault-injection campaign: runs trials, streams results, resumes.

What: ``run_campaign(trial, config, trials, results_path)`` runs trial indices ``0..trials-1``
that are not yet in ``results_path`` (JSON Lines, one ``{"trial": i, **result}`` per line),
writing and flushing each line as soon as its result arrives, and returns the final
:class:`Progress` (counts by ``result["outcome"]``, including trials done in earlier runs).

Why: a campaign is thousands of independent trials (an upset planned from the trial's seed,
run, classified); it must run on a laptop's cores or on a cluster, survive being killed (a
resumed campaign neither repeats nor loses a trial) and be stopped with Ctrl-C keeping what is
done.

Where the trials run:

- ``workers=1`` and no scheduler: in this process, one by one (no pool: the simplest and
  fastest for debugging; the trial need not even be picklable).
- ``workers>1``: a ``concurrent.futures.ProcessPoolExecutor`` of ``workers`` processes, each
  task a chunk of at most ``chunk`` trial indices (reduced so each worker gets about four
  chunks), consumed with ``as_completed``. The start method is ``fork`` on Linux (a worker
  starts at once and inherits the trial function, the config and whatever the parent loaded)
  and ``spawn`` elsewhere (macOS and Windows: fork is unsafe or missing there; the trial must
  then be importable by its module name). The config and trial are handed to each worker once
  (pool initializer), not with every chunk. Workers ignore SIGINT (Ctrl-C is the parent's) and,
  on Linux, die with the parent (prctl PR_SET_PDEATHSIG): a SIGKILLed campaign leaves no
  orphaned worker holding a CPU.
- ``scheduler="ADDRESS"`` (e.g. ``tcp://10.0.0.1:8786``): a ``dask.distributed.Client`` on that
  scheduler, ``client.map`` over chunks (the config scattered once to every worker), results by
  ``distributed.as_completed``. ``scheduler="local:N"`` starts a ``LocalCluster(n_workers=N,
  threads_per_worker=1, processes=True)`` for the run (or ``cluster_factory(N)``, e.g. a
  dask-jobqueue cluster; ``cluster_factory`` without a scheduler is called with ``workers``).
  dask is imported only on this path: the flight side never depends on it.

A trial function ``trial(config, index) -> dict`` must be module-level (picklable), return a
JSON-serialisable dict with a string ``"outcome"``, and depend only on ``config`` and
``trial_seed(config's master seed, index)``: a trial's seed depends only on (master seed, index),
never on the number of workers or the order in which trials run, so any split gives the same
results. An exception raised by a trial (or a result that is not a dict with a string outcome,
or not JSON-serialisable) is recorded for that trial as ``{"outcome": "runner_error", "error":
"Type: message"}``: reported, never counted as a success, and never lost. A worker process that
dies (a crash, not an exception) aborts the run with the pool's error; what was written stays,
and the next run resumes.

Resume: results already in the file are read by :func:`completed_trials`; a torn last line (a
kill mid-write) is ignored and the file truncated back to its last whole line before appending.
One executor per results file at a time. Ctrl-C (KeyboardInterrupt): pending chunks are
cancelled, the pool is shut down (``cancel_futures=True``) and its workers stopped (the results
of chunks still running are dropped: they are redone on resume), every line already written is
kept, the file is flushed, fsynced and closed, and KeyboardInterrupt is raised again (the CLI
exits 130). Each line is flushed as written; the file is fsynced once at the end.

| requirement | verified by |
|---|---|
| results are the same for 1 worker, a process pool and a dask cluster | tests/unit/campaign/test_executor.py |
| a trial's exception is a runner_error for that trial, never a success | tests/unit/campaign/test_executor.py |
| a campaign SIGKILLed (even mid-line) resumes: every trial once, earlier results unchanged; no worker is left |   |
|   | tests/unit/campaign/test_executor.py |
| Ctrl-C stops the run and its workers, keeps whole lines, exits 130; resume completes |   |
|   | tests/unit/campaign/test_executor.py |
| completed_trials ignores a torn last line and refuses a corrupt or duplicated one |   |
|   | tests/unit/campaign/test_executor.py |
| Progress.line shows done/total, rate, counts and ETA; counts include earlier runs |   |
|   | tests/unit/campaign/test_executor.py |
| trial_seed is deterministic and distinct per index and per master seed | tests/unit/campaign/test_executor.py |
| importing the executor does not import dask | tests/unit/campaign/test_executor.py |
"""
from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import hashlib
import json
import multiprocessing
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Callable, Iterator

TrialFunction = Callable[[dict, int], dict]
RUNNER_ERROR = "runner_error"
START_METHOD = "fork" if sys.platform.startswith("linux") else "spawn"
REPORT_INTERVAL = 0.1  # seconds between two progress reports (plus one at the start and the end)
CHUNKS_PER_WORKER = 4
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>

# (index, outcome, JSON line without its newline): what a chunk returns for each trial
Row = tuple[int, str, str]


@dataclass
class Progress:
    """Where a campaign stands. ``resumed``: trials already done when this run started (the rate
    counts only this run's)."""

    done: int
    total: int
    counts: collections.Counter = field(default_factory=collections.Counter)
    started: float = field(default_factory=time.monotonic)
    resumed: int = 0

    def line(self, now: float | None = None) -> str:
        """``1234/16590 trials  310.2 trials/s  masked 1000 corrected 200 sdc 3  ETA 49 s``:
        outcomes by decreasing count (then name)."""
        elapsed = (time.monotonic() if now is None else now) - self.started
        rate = (self.done - self.resumed) / elapsed if elapsed > 0 else 0.0
        counts = " ".join(f"{name} {count}" for name, count in
                          sorted(self.counts.items(), key=lambda item: (-item[1], str(item[0]))))
        left = self.total - self.done
        eta = "0 s" if left <= 0 else _duration(left / rate) if rate > 0 else "?"
        parts = [f"{self.done}/{self.total} trials", f"{rate:.1f} trials/s", counts, f"ETA {eta}"]
        return "  ".join(part for part in parts if part)


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 100:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def trial_seed(master_seed: int, index: int) -> int:
    """The seed of trial ``index``: 64 bits of BLAKE2b over ``"master:index"``. It depends only on
    (master seed, index), never on the number of workers or the order trials run in (and not on
    PYTHONHASHSEED), so a trial replayed alone gives the same result."""
    digest = hashlib.blake2b(f"{master_seed}:{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def _scan(path: Path) -> tuple[dict[int, dict], int]:
    """The results in ``path`` by index, and the byte length of its whole lines."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return {}, 0
    whole = data.rfind(b"\n") + 1
    results: dict[int, dict] = {}
    for number, raw in enumerate(data[:whole].split(b"\n")[:-1], 1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
            index = record["trial"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{number}: not a result line ({type(exc).__name__}: {exc})") from None
        if not isinstance(index, int) or isinstance(index, bool):
            raise ValueError(f"{path}:{number}: trial index {index!r} is not an integer")
        if index in results:
            raise ValueError(f"{path}:{number}: trial {index} appears twice")
        results[index] = record
    return results, whole


def completed_trials(results_path: Path) -> dict[int, dict]:
    """Results already on disk, by trial index (each the whole line, ``"trial"`` included); none
    if the file is missing. A torn last line (no newline: a kill mid-write) is ignored (and the
    file truncated back to the last whole line when the campaign resumes); a corrupt or
    duplicated whole line raises ValueError naming it."""
    return _scan(Path(results_path))[0]


def _run_one(trial: TrialFunction, config: dict, index: int) -> Row:
    try:
        result = trial(config, index)
        if not isinstance(result, dict):
            raise TypeError(f"trial returned {type(result).__name__}, not dict")
        outcome = result.get("outcome")
        if not isinstance(outcome, str):
            raise TypeError(f"trial result's outcome is {outcome!r}, not a string")
        record = {"trial": index, **result}
        record["trial"] = index
        return index, outcome, json.dumps(record)
    except Exception as exc:  # a trial's failure is a result of that trial, never lost
        error = f"{type(exc).__name__}: {exc}"
        return index, RUNNER_ERROR, json.dumps({"trial": index, "outcome": RUNNER_ERROR, "error": error})


def _run_chunk(trial: TrialFunction, config: dict, indices: list[int]) -> list[Row]:
    """Run ``trial`` over a chunk of indices (in a worker); an exception is that trial's runner_error."""
    return [_run_one(trial, config, index) for index in indices]


_WORKER: tuple[TrialFunction, dict] | None = None


def _init_worker(trial: TrialFunction, config: dict, parent: int) -> None:
    """Pool initializer: keep the trial and config (sent once per worker), leave Ctrl-C to the
    parent, and die with the parent (a SIGKILLed campaign leaves no worker behind)."""
    global _WORKER
    _WORKER = (trial, config)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent(parent)


def _die_with_parent(parent: int) -> None:
    """Linux: ask the kernel for SIGKILL when the parent dies (prctl PR_SET_PDEATHSIG), and exit
    now if it already has. Elsewhere (or if prctl is unavailable) nothing: an orphaned worker then
    finishes its chunk and stays blocked until killed."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:
        os._exit(1)


def _pool_chunk(indices: list[int]) -> list[Row]:
    assert _WORKER is not None, "not in a campaign worker"
    return _run_chunk(_WORKER[0], _WORKER[1], indices)


def _chunks(todo: list[int], chunk: int, parallelism: int) -> list[list[int]]:
    size = max(1, min(chunk, -(-len(todo) // (CHUNKS_PER_WORKER * max(1, parallelism)))))
    return [todo[start:start + size] for start in range(0, len(todo), size)]


def _local_batches(trial: TrialFunction, config: dict, todo: list[int]) -> Iterator[list[Row]]:
    for index in todo:
        yield [_run_one(trial, config, index)]


def _stop_workers(pool: concurrent.futures.ProcessPoolExecutor, processes: list[Any]) -> None:
    """Shut the pool down now: pending chunks cancelled, running ones abandoned (their workers
    terminated: they would otherwise finish whole chunks nobody will read)."""
    pool.shutdown(wait=False, cancel_futures=True)
    terminate = getattr(pool, "terminate_workers", None)  # Python >= 3.14
    if terminate is not None:
        terminate()
    else:
        for process in processes:
            if process.is_alive():
                process.terminate()


def _pool_batches(trial: TrialFunction, config: dict, todo: list[int], workers: int,
                  chunk: int) -> Iterator[list[Row]]:
    context = multiprocessing.get_context(START_METHOD)
    pool = concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_init_worker,
                                                  initargs=(trial, config, os.getpid()))
    finished = False
    try:
        futures = [pool.submit(_pool_chunk, indices) for indices in _chunks(todo, chunk, workers)]
        for future in concurrent.futures.as_completed(futures):
            yield future.result()
        finished = True
    finally:
        if not finished:  # Ctrl-C, the consumer stopped, or a worker died
            _stop_workers(pool, list((getattr(pool, "_processes", None) or {}).values()))
        pool.shutdown(wait=True, cancel_futures=True)


def _local_cluster(workers: int) -> Any:
    from dask.distributed import LocalCluster

    return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)


def _dask_batches(trial: TrialFunction, config: dict, todo: list[int], chunk: int, scheduler: str | None,
                  workers: int, cluster_factory: Callable[[int], Any] | None) -> Iterator[list[Row]]:
    from dask.distributed import Client, as_completed  # only here: the flight side never needs dask

    cluster = None
    if scheduler is None or scheduler.startswith("local:"):
        count = workers if scheduler is None else _local_workers(scheduler)
        cluster = (cluster_factory or _local_cluster)(count)
    client = None
    futures: list[Any] = []
    try:
        client = Client(cluster if cluster is not None else scheduler)
        chunks = _chunks(todo, chunk, sum(client.nthreads().values()))
        [shared] = client.scatter([config], broadcast=True)
        futures = client.map(_run_chunk, [trial] * len(chunks), [shared] * len(chunks), chunks, pure=False)
        for future in as_completed(futures):
            yield future.result()
    finally:
        if client is not None:
            if futures:
                client.cancel(futures)
            client.close()
        if cluster is not None:
            cluster.close()


def _local_workers(scheduler: str) -> int:
    text = scheduler.partition(":")[2]
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"scheduler {scheduler!r}: expected local:N with N >= 1 workers")
    return int(text)


def _batches(trial: TrialFunction, config: dict, todo: list[int], workers: int, scheduler: str | None,
             chunk: int, cluster_factory: Callable[[int], Any] | None) -> Iterator[list[Row]]:
    if not todo:
        return iter(())
    if scheduler is not None or cluster_factory is not None:
        return _dask_batches(trial, config, todo, chunk, scheduler, workers, cluster_factory)
    if workers == 1:
        return _local_batches(trial, config, todo)
    return _pool_batches(trial, config, todo, workers, chunk)


@contextlib.contextmanager
def _results_file(path: Path, whole: int) -> Iterator[IO[bytes]]:
    """The results file open for appending, cut back to its last whole line; flushed and fsynced on exit."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab") as out:
        if out.seek(0, os.SEEK_END) > whole:
            out.truncate(whole)
        try:
            yield out
        finally:
            out.flush()
            os.fsync(out.fileno())


class _Reporter:
    def __init__(self, callback: Callable[[Progress], None] | None) -> None:
        self.callback = callback
        self.last = float("-inf")

    def __call__(self, state: Progress, force: bool = False) -> None:
        now = time.monotonic()
        if self.callback is not None and (force or now - self.last >= REPORT_INTERVAL):
            self.last = now
            self.callback(state)


def run_campaign(trial: TrialFunction, config: dict, trials: int, results_path: Path, *, workers: int = 1,
                 scheduler: str | None = None, progress: Callable[[Progress], None] | None = None,
                 chunk: int = 64, cluster_factory: Callable[[int], Any] | None = None) -> Progress:
    """Run trial indices ``0..trials-1`` not yet in ``results_path`` (see the module docstring for
    where they run). Each result is appended as ``{"trial": i, **result}`` and flushed as soon as
    it arrives; the file is fsynced at the end. ``progress`` is called with the :class:`Progress`
    at the start, at most every REPORT_INTERVAL seconds as results arrive, and at the end (also
    on Ctrl-C). KeyboardInterrupt: pending work cancelled, the pool shut down, every written line
    kept, the file closed, then KeyboardInterrupt raised again. Returns the final Progress
    (counts include trials completed in earlier runs, read from the file)."""
    if trials < 0 or workers < 1 or chunk < 1:
        raise ValueError(f"need trials >= 0, workers >= 1, chunk >= 1 (got {trials}, {workers}, {chunk})")
    results_path = Path(results_path)
    earlier, whole = _scan(results_path)
    earlier = {index: record for index, record in earlier.items() if 0 <= index < trials}
    counts = collections.Counter(str(record.get("outcome")) for record in earlier.values())
    state = Progress(len(earlier), trials, counts, time.monotonic(), resumed=len(earlier))
    todo = [index for index in range(trials) if index not in earlier]
    report = _Reporter(progress)
    report(state, force=True)
    batches = _batches(trial, config, todo, workers, scheduler, chunk, cluster_factory)
    try:
        with _results_file(results_path, whole) as out:
            try:
                for batch in batches:
                    for _, outcome, line in batch:
                        out.write(line.encode() + b"\n")
                        out.flush()
                        state.done += 1
                        state.counts[outcome] += 1
                    report(state)
            finally:
                close = getattr(batches, "close", None)
                if close is not None:  # a generator: stop its pool or cluster now
                    close()
    finally:
        report(state, force=True)
    return state
