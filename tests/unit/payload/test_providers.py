"""Execution providers a card's session did not take (flight/payload/cluster/providers.py, and the
HELLO handling of flight/payload/cluster/supervisor.py).

Verifies: the wanted providers a session did not take are the non-CPU ones missing from what it
took, in order, each once (property test); a card whose HELLO lacks a wanted provider that the
build has raises provider_unavailable, at each start of the card, and one that took it raises none.
"""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flight.payload.cluster import card_protocol as msg
from flight.payload.cluster.card_process import CardSpec, CardState
from flight.payload.cluster.engine import ClusterConfig
from flight.payload.cluster.providers import CPU, not_taken
from flight.payload.cluster.supervisor import CardSupervisor

NAMES = st.sampled_from([CPU, "CUDAExecutionProvider", "TensorrtExecutionProvider", "AzureExecutionProvider",
                         "QNNExecutionProvider"])
PROVIDER = NAMES | st.tuples(NAMES, st.fixed_dictionaries({"device_id": st.integers(0, 3)}))


@settings(max_examples=300, deadline=None)
@given(st.lists(PROVIDER, max_size=8), st.lists(NAMES, max_size=5))
def test_not_taken_is_the_wanted_non_cpu_names_missing_from_the_taken_in_order_once(wanted, taken):
    names = [p if isinstance(p, str) else p[0] for p in wanted]
    missing = not_taken(wanted, taken)
    assert len(missing) == len(set(missing))
    assert set(missing) == {n for n in names if n != CPU and n not in taken}
    assert missing == sorted(missing, key=names.index)  # in the order first wanted


class FakeLink:
    """A card link holding one HELLO."""

    def __init__(self, hello: dict) -> None:
        self.message = msg.pack_json(msg.HELLO, hello)

    def receive(self) -> bytes:
        return self.message


class FakeScheduler:
    def __init__(self) -> None:
        self.sent: list = []

    def send(self, card, frames, now) -> None:
        self.sent.append((card.name, frames))


@pytest.fixture
def supervisor(demo_model):
    """A supervisor whose card asks for CUDA, as on a host whose ONNX Runtime build has it."""
    events: list[tuple[str, dict]] = []
    wanted = "CUDAExecutionProvider"
    supervisor = CardSupervisor(ClusterConfig(demo_model), [CardSpec("card0", providers=(wanted, CPU))],
                                lambda kind, args: events.append((kind, args)))
    supervisor.connect(FakeScheduler(), None)
    supervisor.cards["card0"].providers = [wanted, CPU]  # what choose_providers keeps on such a host
    return supervisor, events, wanted


def _hello(supervisor: CardSupervisor, providers: list[str]) -> None:
    card = supervisor.cards["card0"]
    card.set_state(CardState.STARTING, 0.0)
    card.link = FakeLink({"name": "card0", "pid": 1, "model_crc32c": supervisor.model_crc,
                          "providers": providers, "threads": 1})
    supervisor.receive(card)
    assert card.state is CardState.PROBING  # the card goes on, on CPU


def test_a_card_whose_session_did_not_take_a_wanted_provider_is_reported_at_each_start(supervisor):
    supervisor, events, wanted = supervisor
    _hello(supervisor, [CPU])
    assert events == [("provider_unavailable", {"card": "card0", "provider": wanted})]
    _hello(supervisor, [CPU])  # restarted: its new session did not take it either
    assert events == [("provider_unavailable", {"card": "card0", "provider": wanted})] * 2


def test_a_card_whose_session_took_every_wanted_provider_is_not_reported(supervisor):
    supervisor, events, wanted = supervisor
    _hello(supervisor, [wanted, CPU])
    assert events == []
