"""Which ONNX Runtime build the flight runs on, and one clear line when there is none.

orbitfs does not depend on one ONNX Runtime distribution: ``onnxruntime`` (the ``cpu`` extra),
``onnxruntime-gpu`` (CUDA, TensorRT), ``onnxruntime-openvino``, ``onnxruntime-rocm``,
``onnxruntime-directml`` or a vendor's wheel (NVIDIA's for Jetson, a QNN build) all install the
same ``onnxruntime`` module, so a host installs the one its cards need and nothing else. Two of
them installed together overwrite each other's files: the flight warns when it finds more than
one. (``onnxruntime-qnn`` 2 and later is a plug-in on top of ``onnxruntime``, not a build of its
own, so it is not one of them: docs/hil.md.)

| requirement | verified by |
| no importable ``onnxruntime``: the flight refuses to start, one line naming |   |
|   the builds to install, exit 2 | tests/unit/test_runtime_check.py |
| more than one distribution installed: named in a warning | tests/unit/test_runtime_check.py |
"""
from __future__ import annotations

import importlib.util
from importlib import metadata

DISTRIBUTIONS = ("onnxruntime", "onnxruntime-gpu", "onnxruntime-openvino", "onnxruntime-rocm",
                 "onnxruntime-directml", "onnxruntime-silicon")
MISSING = ("no ONNX Runtime is installed: install one build, e.g. pip install 'orbitfs[cpu]' (onnxruntime), "
           "or onnxruntime-gpu, onnxruntime-openvino, a vendor's build (docs/hil.md)")


def missing_onnxruntime() -> str | None:
    """None when the ``onnxruntime`` module can be imported, else the one line that says what to install."""
    return None if importlib.util.find_spec("onnxruntime") is not None else MISSING


def installed_distributions() -> list[str]:
    """The ONNX Runtime distributions installed in this environment, as ``name version``."""
    found = []
    for name in DISTRIBUTIONS:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return found


def conflict_warning(installed: list[str]) -> str | None:
    """A warning when more than one distribution shares the ``onnxruntime`` module, else None."""
    if len(installed) < 2:
        return None
    return (f"{' and '.join(installed)} are installed together: they share the module 'onnxruntime' and the last "
            "installed overwrote the other's files; uninstall all of them and install one")
