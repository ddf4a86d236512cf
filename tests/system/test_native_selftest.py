"""The C self-test of the native kernels (native/src/selftest.c), run natively
and, for aarch64, cross-compiled and run under qemu-user.

Requirement (issue 5): the C sources build for aarch64 with
``aarch64-linux-gnu-gcc`` and the check values and random vectors pass under
``qemu-aarch64`` on the hardware (CRC32 + PMULL + NEON) tier as well as the
portable one.  The tests skip when the tools are absent; install them with
``apt-get install gcc-aarch64-linux-gnu qemu-user`` (see docs/native.md).
The self-test compares every tier with the portable path and the portable
path with bit-at-a-time reference CRCs, and fails on any mismatch.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "native" / "src"
FLAGS = ["-O2", "-std=gnu11", "-Wall", "-Wextra", "-Werror", f"-I{SRC}"]


def _build_and_run(compiler: str, runner: list[str], out: Path, extra: list[str]) -> str:
    sources = [str(p) for p in sorted(SRC.glob("*.c"))]
    subprocess.run([compiler, *FLAGS, *extra, *sources, "-o", str(out)], check=True, timeout=300)
    proc = subprocess.run([*runner, str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.rstrip().endswith(" 0 failures"), proc.stdout
    return proc.stdout


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
def test_selftest_host(tmp_path: Path) -> None:
    stdout = _build_and_run("gcc", [], tmp_path / "selftest", [])
    assert stdout.startswith("tier 0: crc16=portable-slice8")


@pytest.mark.skipif(
    shutil.which("aarch64-linux-gnu-gcc") is None or shutil.which("qemu-aarch64") is None,
    reason="needs aarch64-linux-gnu-gcc and qemu-aarch64 (apt-get install gcc-aarch64-linux-gnu qemu-user)",
)
def test_selftest_aarch64_under_qemu(tmp_path: Path) -> None:
    stdout = _build_and_run("aarch64-linux-gnu-gcc", ["qemu-aarch64"], tmp_path / "selftest", ["-static"])
    assert "tier 1: crc16=arm-pmull-fold crc32c=arm-crc32c-3way crc32=arm-crc32-3way vote=arm-neon" in stdout
