"""The native module seen from other processes: environment settings, the fallback's warning,
and a build without a working compiler (each runs a fresh Python or setup.py)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import native

ROOT = Path(__file__).resolve().parents[2]


def test_portable_env_var_forces_portable_path() -> None:
    code = "import native; print(sorted(set(native.implementation().values())), native.BACKEND)"
    env = dict(os.environ, ORBITFS_NATIVE_PORTABLE="1")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    if native.BACKEND == "c":
        assert out.stdout.split("]")[0] == "['portable-slice8', 'portable-swar64'"
    assert sorted(native.implementation()) == ["crc16_ccitt_false", "crc32", "crc32c", "vote3"]


def test_fallback_backend_warns_once() -> None:
    code = (
        "import sys, warnings\n"
        "sys.modules['native._native'] = None\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        "    import native, importlib\n"
        "    import native as again\n"
        "print(native.BACKEND, sum('fallback' in str(w.message) for w in caught), hex(native.crc32c(b'123456789')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["python", "1", "0xe3069283"]


@pytest.mark.skipif(shutil.which("false") is None, reason="needs /bin/false as a broken compiler")
def test_setup_survives_missing_compiler(tmp_path: Path) -> None:
    shutil.copy(ROOT / "setup.py", tmp_path)
    shutil.copytree(ROOT / "native" / "src", tmp_path / "native" / "src")
    shutil.copy(ROOT / "native" / "build.py", tmp_path / "native")
    env = dict(os.environ, CC="false", LDSHARED="false")
    proc = subprocess.run(
        [sys.executable, "setup.py", "build_ext", "--build-lib", "out", "--build-temp", "tmp"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "pure Python fallback" in proc.stderr
    assert not list((tmp_path / "out").rglob("_native*.so"))
