"""A card whose real ONNX Runtime session cannot start a wanted provider (flight/payload/cluster/supervisor.py).

Verifies: on a host whose build lists CUDAExecutionProvider (as onnxruntime-gpu does) but cannot
start it, the card's real worker runs on CPU and the flight raises provider_unavailable for it, at
each start of the card. The build's list is pretended in the flight process only: the card worker
is a real process with the real ONNX Runtime of this host, which has no CUDA.
"""
from __future__ import annotations

import threading

import onnxruntime as ort
import pytest

from flight.payload.cluster import providers
from flight.payload.cluster.card_process import CardSpec, CardState
from flight.payload.cluster.engine import Cluster, ClusterConfig

CUDA = "CUDAExecutionProvider"


@pytest.mark.skipif(CUDA in ort.get_available_providers(), reason="this host's build really has CUDA")
def test_a_provider_the_real_session_could_not_start_is_reported_at_each_start(demo_model, monkeypatch):
    build = ort.get_available_providers()
    monkeypatch.setattr(providers.ort, "get_available_providers", lambda: [CUDA, *build])
    events: list[tuple[str, dict]] = []
    changed = threading.Condition()

    def on_event(kind: str, args: dict) -> None:
        with changed:
            events.append((kind, args))
            changed.notify_all()

    def wait_ready(count: int) -> None:
        with changed:
            assert changed.wait_for(lambda: sum(k == "card_ready" for k, _ in events) == count, 30), events

    cluster = Cluster(ClusterConfig(demo_model), [CardSpec("card0", providers=(CUDA, "CPUExecutionProvider"))],
                      lambda *_: None, on_event)
    cluster.start()
    try:
        wait_ready(1)
        reported = ("provider_unavailable", {"card": "card0", "provider": CUDA})
        assert events.count(reported) == 1
        assert cluster.cards["card0"].state is CardState.READY  # on CPU
        cluster.call(lambda: cluster.reset_card("card0"))
        wait_ready(2)
        assert events.count(reported) == 2
    finally:
        cluster.stop()
