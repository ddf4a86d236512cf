"""The flight's payload and protection components in one process, with real card workers: what
a campaign's card-fault and region-upset trials run on, and what tools/bench_protection.py measures.

:class:`ClusterBench` builds the parameter database, the inference cluster (one worker process
per card), the scrubber and the SEU injector with the component tester (flight.testing), from the
default topology's settings and wiring for those components, with overrides for the cluster
(:func:`bench_tester`); it records the products and events, submits a tile and waits for its
product or its drop, and makes the cluster whole again between trials.
"""
from __future__ import annotations

import threading
import time
import tomllib
from pathlib import Path
from typing import Any

from flight.app import DEFAULT_TOPOLOGY, load_flight_topology
from flight.messages import Capture, Product
from flight.payload.cluster.card_process import CardState
from flight.payload.scene import Tile
from flight.testing import ComponentTester

FLIGHT_COMPONENTS = ("prmDb", "cluster", "scrubber", "seu")


def scrubber_rate_hz() -> float:
    """The rate of the default topology's rate group that runs the scrubber."""
    topology = load_flight_topology()
    return next(g.rate_hz for g in topology.rate_groups if "scrubber" in g.members)


def bench_tester(run_dir: Path, model: Path, **overrides: Any) -> ComponentTester:
    """The component tester holding the bench's components, built and not started: the default
    topology's settings and wiring for them, with ``overrides`` for the cluster."""
    default = tomllib.loads(DEFAULT_TOPOLOGY.read_text())
    components = [dict(c) for c in default["components"] if c["name"] in FLIGHT_COMPONENTS]
    cluster = next(c for c in components if c["name"] == "cluster")
    cluster.update(model=str(model), **overrides)
    wiring = [c for c in default["wiring"]["connections"]
              if all(end.split(".")[0].strip() in FLIGHT_COMPONENTS for end in c.split("->"))]
    return ComponentTester.build(
        run_dir, components, connections=wiring, mission=dict(default["mission"]),
        rate_groups=[{"name": "rgFast", "rate_hz": scrubber_rate_hz(), "members": list(FLIGHT_COMPONENTS)}])


class ClusterBench:
    """Parameter database, cluster, scrubber and SEU injector components in this process, with
    real card workers, wired as in the default topology.

    Their settings are the default topology's, with ``overrides`` for the cluster; the products
    and the events are recorded.
    """

    def __init__(self, run_dir: Path, model: Path, **overrides: Any) -> None:
        run_dir.mkdir(parents=True, exist_ok=True)
        self.tester = bench_tester(run_dir, model, **overrides)
        self.products: list[Product] = []
        self.product_times: list[float] = []
        self._changed = threading.Condition()
        self.components = self.tester.components
        self.cluster = self.components["cluster"]
        self.cluster.outputs["products"].connect(self._product)
        self.protected = self.components["scrubber"].protected
        self.tester.start("prmDb", "cluster")  # prmDb: the parameters region and its recovery
        self.engine = self.cluster.engine
        try:
            self.wait_ready()
        except RuntimeError:
            self.stop()
            raise

    def _product(self, product: Product) -> None:
        with self._changed:
            self.products.append(product)
            self.product_times.append(time.perf_counter())
            self._changed.notify_all()

    def events_from(self, start: int) -> list[tuple[str, str, list[Any]]]:
        """A copy of the recorded events from index ``start`` on (events come from two threads)."""
        return list(self.tester.events[start:])

    def event_count(self) -> int:
        """How many events were recorded so far."""
        return len(self.tester.events)

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Wait until every card is READY."""
        deadline = time.monotonic() + timeout
        while not all(c.state is CardState.READY for c in self.engine.cards.values()):
            if time.monotonic() > deadline:
                raise RuntimeError("cards not ready: " + ", ".join(
                    f"{c.name} {c.state.name}" for c in self.engine.cards.values()))
            time.sleep(0.01)

    def frame(self, tile: Tile, timeout: float = 60.0) -> Product | None:
        """Submit one tile and wait for its product (None: the cluster dropped the frame)."""
        with self._changed:
            delivered = len(self.products)
        dropped = sum(self.engine.dropped.values())
        self.cluster.tiles(Capture(tile.frame_id, tile.pixels))
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.products) == delivered:
                if sum(self.engine.dropped.values()) > dropped:
                    return None
                if time.monotonic() > deadline:
                    raise RuntimeError(f"no product for frame {tile.frame_id}")
                self._changed.wait(0.005)
            product = self.products[delivered]
        if product.frame_id != tile.frame_id:
            raise RuntimeError(f"product of frame {product.frame_id}, expected {tile.frame_id}")
        return product

    def saturate(self, tiles: list[Tile], frames: int) -> float:
        """Delivered frames/s over ``frames`` tiles submitted as fast as backpressure allows."""
        with self._changed:
            first = len(self.products)
        began = time.perf_counter()
        for i in range(frames):
            while self.engine.backpressure:
                with self._changed:
                    self._changed.wait(0.002)
            tile = tiles[i % len(tiles)]
            self.cluster.tiles(Capture(tile.frame_id, tile.pixels))
        with self._changed:
            while len(self.products) < first + frames:
                if sum(self.engine.dropped.values()):
                    raise RuntimeError(f"frames dropped: {self.engine.dropped}")
                self._changed.wait(0.01)
            last = self.product_times[first + frames - 1]
        return frames / (last - began)

    def sync(self, timeout: float = 10.0) -> None:
        """Wait until the cluster thread has run the work queued for it so far (e.g. card resets)."""
        done = threading.Event()
        self.engine.call(done.set)
        if not done.wait(timeout):
            raise RuntimeError("the cluster thread did not answer")

    def noticed_counts(self) -> tuple[int, ...]:
        """Disagreements voted and each card's resets: what the cluster noticed, read on its own
        state (its events may still be queued)."""
        return (self.engine.voter.disagreements, *(card.resets for card in self.engine.cards.values()))

    def make_whole(self, timeout: float = 120.0) -> None:
        """Every card's failure and disagreement history forgotten, a card the supervisor switched
        off powered on again, and every card READY: a trial after this one does not depend on it."""
        engine = self.engine

        def whole() -> None:
            for name, card in engine.cards.items():
                card.failures = []
                engine.voter.forget_disagreements(name)
                if card.state is CardState.OFF:
                    engine.reset_card(name, "campaign: the next trial")

        engine.call(whole)
        self.sync()
        self.wait_ready(timeout=timeout)

    def stop(self) -> None:
        self.tester.stop()
