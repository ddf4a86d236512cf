"""Packaging: the sdist installs with a compiler, and the wheel is abi3 (issue 15).

Requirements verified here:
- the sdist carries every C source and header of ``native/src`` (``MANIFEST.in``):
  ``test_sdist_contains_native_sources``;
- ``pip install`` of that sdist into a fresh venv compiles the extension, so ``native``
  runs its C backend there: ``test_sdist_installs_with_c_backend``;
- the wheel is tagged ``cp310-abi3`` (the cffi extension uses only the stable ABI):
  ``test_wheel_is_abi3``.

Offline-safe: ``--no-deps`` (the runtime dependencies, numpy for ``native``, come from
this test's own environment through ``PYTHONPATH``); the build requirements come from
pip's configured indexes.  The sdist is made from a copy of the tree without its
egg-info (whose stale ``SOURCES.txt`` would otherwise hide a missing ``MANIFEST.in``
rule), and the wheel from the sdist, so the test writes nothing into the tree.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(*cmd: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{cmd} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def sdist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sdist")
    tree = out / "tree"
    junk = shutil.ignore_patterns(".*", "*.egg-info", "__pycache__", "build", "dist", "runs", "*.so")
    shutil.copytree(ROOT, tree, ignore=junk)
    _run(sys.executable, "setup.py", "-q", "sdist", "-d", out, cwd=tree)
    (tarball,) = out.glob("orbitfs-*.tar.gz")
    return tarball


def test_sdist_contains_native_sources(sdist: Path) -> None:
    with tarfile.open(sdist) as tar:
        names = {Path(name).name for name in tar.getnames() if "/native/src/" in name}
    expected = {p.name for p in (ROOT / "native" / "src").iterdir() if p.suffix in {".c", ".h"}}
    assert expected and expected <= names


def test_sdist_installs_with_c_backend(sdist: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    _run(python, "-m", "pip", "install", "-q", "--no-deps", sdist, cwd=tmp_path)
    env = {**os.environ, "PYTHONPATH": sysconfig.get_paths()["purelib"]}  # numpy, not orbitfs
    code = "import native; print(native.__file__); print(native.BACKEND)"
    where, backend = _run(python, "-c", code, cwd=tmp_path, env=env).split()
    assert Path(where).is_relative_to(venv)
    assert backend == "c"


def test_wheel_is_abi3(sdist: Path, tmp_path: Path) -> None:
    _run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", tmp_path, sdist, cwd=tmp_path)
    (wheel,) = tmp_path.glob("orbitfs-*.whl")
    assert "-cp310-abi3-" in wheel.name
