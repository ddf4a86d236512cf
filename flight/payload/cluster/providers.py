"""Execution providers: which of the wanted ONNX Runtime providers a card can run.

A provider may be a name or a (name, options) pair, e.g. ``("CUDAExecutionProvider",
{"device_id": 1})``. A wanted provider is lost twice over: this host's ONNX Runtime build lacks it
(:func:`choose_providers`, before the card starts), or the build has it but the card's session
could not start it, e.g. onnxruntime-gpu without the CUDA libraries (:func:`not_taken`, from the
providers the card's HELLO says its session took). Either way the caller reports it as an event
and the card runs on CPU, never silently.

| requirement | verified by |
| a provider this build lacks is refused and replaced by CPU | tests/system/test_cluster_engine.py |
| the wanted providers a session did not take: non-CPU, in order, each once | tests/unit/payload/test_providers.py |
| a card whose session did not take a wanted provider: reported at each start | tests/unit/payload/test_providers.py, |
|   | tests/system/test_card_providers.py |
"""
from __future__ import annotations

from typing import Any

import onnxruntime as ort

Provider = str | tuple[str, dict[str, Any]]
CPU = "CPUExecutionProvider"


def provider_name(provider: Provider) -> str:
    return provider if isinstance(provider, str) else provider[0]


def choose_providers(wanted: list[Provider]) -> tuple[list[Provider], list[str]]:
    """(providers to use, names refused because this host lacks them); CPU always last."""
    available = set(ort.get_available_providers())
    use = [p for p in wanted if provider_name(p) in available]
    missing = [provider_name(p) for p in wanted if provider_name(p) not in available]
    if CPU not in [provider_name(p) for p in use]:
        use.append(CPU)
    return use, missing


def not_taken(wanted: list[Provider], taken: list[str]) -> list[str]:
    """The names of the ``wanted`` providers, but CPU (the fallback, always there), that a session
    did not take (``taken``: its ``get_providers()``), in order, each once."""
    names = (provider_name(p) for p in wanted)
    return list(dict.fromkeys(n for n in names if n != CPU and n not in taken))
