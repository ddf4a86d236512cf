"""Per-function choice of implementation by measured speed, and its cache.

Requirements (native/_dispatch.py, native/_calibrate.py, native/_tier_cache.py) and where
they are verified:
- only implementations of a tier the CPU has are listed, portable first; ``select`` refuses
  unknown or unsupported names and changes nothing then:
  ``test_supported_lists_only_runnable_implementations``, ``test_select_refuses_and_changes_nothing``;
- ``use_tier`` and ``use_impls`` restore the previous selection: ``test_context_managers_restore``;
- the measured choice names, per function, the fastest supported implementation (or the
  flag-based one when within MARGIN of it), and the functions then use it:
  ``test_measured_choice_is_the_fastest_supported``, ``test_near_ties_keep_the_flag_choice``; with a lower CPU
  tier only that tier's implementations are timed: ``test_choice_stays_within_the_cpu_tier``;
- a second import on the same CPU and build reads the cache (in fresh processes):
  ``test_second_import_reads_the_cache``; a cached choice is applied as cached, even when it is
  not the fastest: ``test_cached_choice_is_applied``;
- a cache entry for another CPU or build, a corrupt file, or an entry naming an implementation
  this CPU lacks is ignored and measured again: ``test_other_cpu_or_build_is_measured_again``,
  ``test_bad_cache_is_measured_again``;
- an unwritable cache directory keeps the choice in memory without failing:
  ``test_unwritable_cache_keeps_the_choice_in_memory``;
- the cache keeps the most recent MAX_ENTRIES entries and no temporary file:
  ``test_store_keeps_recent_entries``;
- ``ORBITFS_NATIVE_PORTABLE=1`` selects the portable path everywhere: ``test_portable_env_forces_portable``.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

_dispatch = pytest.importorskip("native._dispatch", reason="C extension not built")
from native import _calibrate, _native, _tier_cache  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def restore_selection() -> Iterator[None]:
    """Every test leaves the process's selection as it found it."""
    with _dispatch.use_impls(_dispatch.implementation()):
        yield


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private cache directory (and no portable override)."""
    monkeypatch.setenv(_tier_cache.CACHE_DIR_ENV, str(tmp_path / "cache"))
    monkeypatch.delenv(_calibrate.PORTABLE_ENV, raising=False)
    return tmp_path / "cache"


def _key() -> str:
    return _tier_cache.cache_key(_tier_cache.cpu_identity(), _tier_cache.build_id(Path(_native.__file__)))


def _portable_choice() -> dict[str, str]:
    return {f: _dispatch.supported(f)[0].name for f in _dispatch.FUNCTIONS}


def test_supported_lists_only_runnable_implementations() -> None:
    for function in _dispatch.FUNCTIONS:
        every, runnable = _dispatch.impls(function), _dispatch.supported(function)
        assert runnable[0].index == 0 and runnable[0].tier == 0 and runnable[0].name.startswith("portable")
        assert runnable == [i for i in every if i.tier <= _dispatch.max_tier()]
        assert len({i.name for i in every}) == len(every)
    if platform.machine() == "x86_64":  # CRC-32C by folding as well as by the crc32 instruction
        assert {"x86-pclmul-fold", "x86-sse42-crc32-3way"} <= {i.name for i in _dispatch.impls("crc32c")}


def test_select_refuses_and_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    before = _dispatch.implementation()
    with pytest.raises(ValueError, match="not an implementation"):
        _dispatch.select({"crc32": "portable-slice8", "crc32c": "no-such-path"})
    with pytest.raises(ValueError, match="unknown function"):
        _dispatch.select({"crc64": "portable-slice8"})
    top = _dispatch.supported("crc32c")[-1]
    if top.tier > 0:
        monkeypatch.setattr(_dispatch, "max_tier", lambda: top.tier - 1)
        with pytest.raises(ValueError, match="not an implementation"):
            _dispatch.select({"crc32c": top.name})
    assert _dispatch.implementation() == before


def test_context_managers_restore() -> None:
    before = _dispatch.implementation()
    with _dispatch.use_tier(0):
        assert _dispatch.implementation() == _portable_choice()
    assert _dispatch.implementation() == before
    last = {f: _dispatch.supported(f)[-1].name for f in _dispatch.FUNCTIONS}
    with _dispatch.use_impls(last):
        assert _dispatch.implementation() == last
    assert _dispatch.implementation() == before


def test_measured_choice_is_the_fastest_supported(cache_dir: Path) -> None:
    choice = _calibrate.startup_choice()
    assert choice.source == "measured" and choice.cache_file == str(cache_dir / _tier_cache.FILE_NAME)
    for function in _dispatch.FUNCTIONS:
        rates = choice.rates[function]
        assert sorted(rates) == sorted(i.name for i in _dispatch.supported(function))
        assert all(rate > 0 for rate in rates.values())
        best = max(rates.values())
        assert rates[choice.choice[function]] * (1 + _calibrate.MARGIN) >= best
    assert _dispatch.implementation() == choice.choice


def test_near_ties_keep_the_flag_choice() -> None:
    rates = {"f": {"a": 1.0, "b": 3.0, "c": 2.0}, "g": {"a": 1.0, "b": 1.05}, "h": {"a": 2.0}}
    assert _calibrate.fastest(rates, {"f": "c", "g": "a"}) == {"f": "b", "g": "a", "h": "a"}
    assert _calibrate.fastest(rates, {"g": "b"})["g"] == "b"
    assert _calibrate.fastest(rates, {"f": "missing"})["f"] == "b"


def test_choice_stays_within_the_cpu_tier(cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _dispatch.select(_portable_choice())  # what a CPU of tier 0 would be running
    monkeypatch.setattr(_dispatch, "max_tier", lambda: 0)
    choice = _calibrate.startup_choice()
    assert choice.choice == _portable_choice() == _dispatch.implementation()
    assert all(len(rates) == 1 for rates in choice.rates.values())


def _import_in_fresh_process(cache_dir: Path) -> tuple[str, dict[str, str], dict[str, str]]:
    code = "import json, native as n; c = n.calibration(); print(json.dumps([c.source, c.choice, n.implementation()]))"
    env = {k: v for k, v in os.environ.items() if k != _calibrate.PORTABLE_ENV}
    env[_tier_cache.CACHE_DIR_ENV] = str(cache_dir)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    source, choice, used = json.loads(out.stdout)
    return source, choice, used


def test_second_import_reads_the_cache(cache_dir: Path) -> None:
    first = _import_in_fresh_process(cache_dir)
    second = _import_in_fresh_process(cache_dir)
    assert first[0] == "measured" and second[0] == "cache"
    assert first[1] == first[2] == second[1] == second[2]


def test_cached_choice_is_applied(cache_dir: Path) -> None:
    portable = _portable_choice()
    assert _tier_cache.store(cache_dir / _tier_cache.FILE_NAME, _key(), {"choice": portable, "rates": {}})
    choice = _calibrate.startup_choice()
    assert (choice.source, choice.choice) == ("cache", portable)
    assert _dispatch.implementation() == portable


def test_other_cpu_or_build_is_measured_again(cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = cache_dir / _tier_cache.FILE_NAME
    assert _tier_cache.store(path, _key(), {"choice": _portable_choice(), "rates": {}})
    real_cpu = _tier_cache.cpu_identity
    monkeypatch.setattr(_tier_cache, "cpu_identity", lambda: "another cpu")
    assert _calibrate.startup_choice().source == "measured"
    monkeypatch.setattr(_tier_cache, "cpu_identity", real_cpu)
    monkeypatch.setattr(_tier_cache, "build_id", lambda library: "another build")
    assert _calibrate.startup_choice().source == "measured"
    assert len(json.loads(path.read_text())["entries"]) == 3


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        "\x00\xff binary",
        json.dumps({"format": 1, "entries": []}),
        json.dumps({"format": 99, "entries": {}}),
        "KEY:" + json.dumps({"choice": "portable", "rates": {}}),
        "KEY:" + json.dumps({"choice": {"crc32c": "portable-slice8"}, "rates": {}}),
        "KEY:" + json.dumps({"choice": {f: "no-such-path" for f in _dispatch.FUNCTIONS}, "rates": {}}),
    ],
    ids=["syntax", "binary", "entries-list", "format", "choice-type", "function-missing", "unknown-path"],
)
def test_bad_cache_is_measured_again(cache_dir: Path, content: str) -> None:
    path = cache_dir / _tier_cache.FILE_NAME
    cache_dir.mkdir()
    if content.startswith("KEY:"):
        content = json.dumps({"format": 1, "entries": {_key(): json.loads(content[4:])}})
    path.write_text(content)
    choice = _calibrate.startup_choice()
    assert choice.source == "measured"
    assert _tier_cache.load(path, _key()) == {"choice": choice.choice, "rates": choice.rates}


def test_unwritable_cache_keeps_the_choice_in_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv(_tier_cache.CACHE_DIR_ENV, str(blocker / "orbitfs"))
    monkeypatch.delenv(_calibrate.PORTABLE_ENV, raising=False)
    choice = _calibrate.startup_choice()
    assert (choice.source, choice.cache_file) == ("measured", None)
    assert _dispatch.implementation() == choice.choice


def test_store_keeps_recent_entries(tmp_path: Path) -> None:
    path = tmp_path / _tier_cache.FILE_NAME
    for i in range(_tier_cache.MAX_ENTRIES + 3):
        assert _tier_cache.store(path, f"key{i}", {"choice": {}, "rates": {}})
    entries = json.loads(path.read_text())["entries"]
    assert list(entries) == [f"key{i}" for i in range(3, _tier_cache.MAX_ENTRIES + 3)]
    assert _tier_cache.load(path, "key2") is None and _tier_cache.load(path, "key3") is not None
    assert [p.name for p in tmp_path.iterdir()] == [_tier_cache.FILE_NAME]


def test_cache_location_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(_tier_cache.CACHE_DIR_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert _tier_cache.cache_file() == tmp_path / "orbitfs" / _tier_cache.FILE_NAME
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert _tier_cache.cache_file() == Path.home() / ".cache" / "orbitfs" / _tier_cache.FILE_NAME
    monkeypatch.setenv(_tier_cache.CACHE_DIR_ENV, str(tmp_path / "x"))
    assert _tier_cache.cache_file() == tmp_path / "x" / _tier_cache.FILE_NAME


def test_portable_env_forces_portable(cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(_calibrate.PORTABLE_ENV, "1")
    choice = _calibrate.startup_choice()
    assert (choice.source, choice.choice, choice.cache_file) == ("portable-forced", _portable_choice(), None)
    assert _dispatch.implementation() == _portable_choice()
    assert not cache_dir.exists()
