"""cffi build script for the ``native._native`` extension (API mode).

Requirement: the extension is built with the compiler's default target
flags (no ``-march``), so it loads on any CPU of its architecture; hardware
paths are selected at run time (see ``native/src/dispatch.c``).  Verified by
``tests/unit/native/test_native.py`` (every available implementation against the portable one).

The cffi declarations are the block between the ``CDEF`` markers of
``native/src/ofs_native.h``, so the C header stays the single source of the
interface.
"""

from __future__ import annotations

import os
from pathlib import Path

from cffi import FFI

SRC_DIR = Path(__file__).resolve().parent / "src"
SOURCES = sorted(SRC_DIR.glob("*.c"))
EXCLUDED = {"selftest.c"}


def cdef_text(header: Path = SRC_DIR / "ofs_native.h") -> str:
    """Return the cffi-parsable declarations of the public C header."""
    text = header.read_text()
    begin = text.index("/* CDEF BEGIN */") + len("/* CDEF BEGIN */")
    return text[begin : text.index("/* CDEF END */")]


def _rel(path: Path) -> str:
    # setuptools wants source paths relative to the setup.py directory.
    return os.path.relpath(path)


ffibuilder = FFI()
ffibuilder.cdef(cdef_text())
ffibuilder.set_source(
    "native._native",
    '#include "ofs_native.h"',
    sources=[_rel(p) for p in SOURCES if p.name not in EXCLUDED],
    include_dirs=[_rel(SRC_DIR)],
    extra_compile_args=["-O3", "-std=gnu11"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
