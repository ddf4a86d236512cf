"""Build hook for the optional ``native._native`` cffi extension.

Requirement: installing orbitfs must succeed without a working C compiler;
the extension is then skipped with a warning and ``native`` falls back to
its numpy/zlib backend (``native.BACKEND == "python"``).  Verified by
``tests/unit/native/test_native.py::test_setup_survives_missing_compiler``.

The extension uses only the stable ABI (cffi sets ``py_limited_api`` on it),
so the wheel is tagged ``cp310-abi3`` (requires-python >= 3.10) and one wheel
serves every later CPython; the sdist carries the C sources and headers
(``MANIFEST.in``).  Verified by ``tests/system/test_packaging.py``.
"""

from __future__ import annotations

import sys

from setuptools import setup
from setuptools.command.build_ext import build_ext


class OptionalBuildExt(build_ext):
    """``build_ext`` that turns compile and link failures into a warning."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # no compiler at all: DistutilsPlatformError etc.
            self._skip(exc)

    def build_extension(self, ext) -> None:  # noqa: ANN001 - setuptools type
        try:
            super().build_extension(ext)
        except Exception as exc:  # compiler present but failing
            self._skip(exc, ext.name)

    @staticmethod
    def _skip(exc: BaseException, name: str = "native._native") -> None:
        print(
            f"WARNING: could not build {name} ({exc}); orbitfs will use the slower "
            "pure Python fallback of the native module",
            file=sys.stderr,
        )


setup(
    cffi_modules=["native/build.py:ffibuilder"],
    cmdclass={"build_ext": OptionalBuildExt},
    options={"bdist_wheel": {"py_limited_api": "cp310"}},
)
