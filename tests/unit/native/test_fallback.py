"""The Python fallback's CRC kernels against the C path.

Requirements (native/_fallback.py) and where they are verified:
- CRC-16/CCITT-FALSE by ``binascii.crc_hqx``, CRC-32 by ``zlib.crc32`` and CRC-32C by every
  kernel importable here (the ``crc32c`` wheel, ``google-crc32c``, the pure-Python table) equal
  the C path for random data, seeds and resume points, single and batched:
  ``test_fallback_crcs_equal_c``, ``test_every_crc32c_kernel_equals_c``;
- an installed CRC-32C wheel is preferred over the table, and the table is used when none is
  importable; google-crc32c's pure-Python mode is not used: ``test_crc32c_kernel_preference``;
- the whole property suite of tests/unit/native/test_native.py also runs on the fallback.
"""

from __future__ import annotations

import sys
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from native import _fallback

_c = pytest.importorskip("native._c", reason="C extension not built")
_dispatch = pytest.importorskip("native._dispatch")

CRCS = {"crc16_ccitt_false": 16, "crc32c": 32, "crc32": 32}
PROPERTY = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(params=["portable", "chosen"])
def c_path(request: pytest.FixtureRequest):
    """The C backend on its portable path, then on the implementations chosen at import."""
    if request.param == "portable":
        with _dispatch.use_tier(0):
            yield _c
    else:
        yield _c


@PROPERTY
@given(
    data=st.binary(max_size=5_000),
    seed=st.integers(0, 0xFFFF_FFFF),
    cut=st.integers(0, 5_000),
    chunk=st.integers(1, 600),
    name=st.sampled_from(sorted(CRCS)),
)
def test_fallback_crcs_equal_c(c_path, data: bytes, seed: int, cut: int, chunk: int, name: str) -> None:
    seed &= (1 << CRCS[name]) - 1
    ours, theirs = getattr(_fallback, name), getattr(c_path, name)
    cut %= len(data) + 1
    assert ours(data, seed) == theirs(data, seed)
    assert ours(memoryview(data)[cut:], ours(data[:cut])) == theirs(data)
    chunks = getattr(_fallback, f"{name}_chunks")(bytearray(data), chunk)
    assert chunks.dtype == getattr(c_path, f"{name}_chunks")(data, chunk).dtype
    assert chunks.tolist() == getattr(c_path, f"{name}_chunks")(data, chunk).tolist()


@pytest.mark.parametrize("kernel", sorted(_fallback.crc32c_kernels()))
@PROPERTY
@given(data=st.binary(max_size=5_000), seed=st.integers(0, 0xFFFF_FFFF), cut=st.integers(0, 5_000))
def test_every_crc32c_kernel_equals_c(kernel: str, data: bytes, seed: int, cut: int) -> None:
    func = _fallback.crc32c_kernels()[kernel]
    view = memoryview(bytearray(data))
    cut %= len(data) + 1
    assert func(view, seed) == _c.crc32c(data, seed)
    assert func(view[cut:], func(view[:cut], seed)) == _c.crc32c(data, seed)


def test_crc32c_kernel_preference(monkeypatch: pytest.MonkeyPatch) -> None:
    kernels = list(_fallback.crc32c_kernels())
    assert kernels[-1] == "python-table"
    assert _fallback.implementation()["crc32c"] == kernels[0]
    assert _fallback.implementation()["crc16_ccitt_false"] == "binascii.crc_hqx"
    monkeypatch.setitem(sys.modules, "crc32c", None)
    monkeypatch.setitem(sys.modules, "google_crc32c", SimpleNamespace(implementation="python"))
    assert list(_fallback.crc32c_kernels()) == ["python-table"]
    monkeypatch.setitem(sys.modules, "google_crc32c", SimpleNamespace(implementation="c", extend=lambda c, b: 0))
    assert list(_fallback.crc32c_kernels()) == ["google-crc32c", "python-table"]


def test_crc16_check_value_by_crc_hqx() -> None:
    assert _fallback.crc16_ccitt_false(b"123456789") == 0x29B1
    assert _fallback.calibration().source == "python"
