"""Execution providers: which of the wanted ONNX Runtime providers this host can run.

A provider may be a name or a (name, options) pair, e.g. ``("CUDAExecutionProvider",
{"device_id": 1})``. Those this host lacks are reported by the caller as an event and replaced by
CPU, never silently.
"""
from __future__ import annotations

from typing import Any

import onnxruntime as ort

Provider = str | tuple[str, dict[str, Any]]


def provider_name(provider: Provider) -> str:
    return provider if isinstance(provider, str) else provider[0]


def choose_providers(wanted: list[Provider]) -> tuple[list[Provider], list[str]]:
    """(providers to use, names refused because this host lacks them); CPU always last."""
    available = set(ort.get_available_providers())
    use = [p for p in wanted if provider_name(p) in available]
    missing = [provider_name(p) for p in wanted if provider_name(p) not in available]
    if "CPUExecutionProvider" not in [provider_name(p) for p in use]:
        use.append("CPUExecutionProvider")
    return use, missing
