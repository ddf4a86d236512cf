"""The default on-board responses (issue 14): each default event-action of flight/topologies/
default.toml fires from an injected condition, and its response is visible in telemetry within one
second of simulated time.

In process (flight.testing's component tester) with the real inference cluster and its card
workers, and the default topology's own entries for the dispatcher, event log, health,
housekeeping, camera, cluster, mode manager, monitor and event-action service, wired as it wires
them. The test drives the rate groups by hand at the default rates (10 Hz: camera, cluster,
monitor, event-action; 1 Hz: health, housekeeping), stamping each TM packet that comes out with
the simulated time of the cycle it came out in, and lets the cluster thread finish its work
between cycles (as the flight's wall-clock period does). A response time is the simulated time
from the cycle the condition was injected (or, where another service must first find it, the
cycle it was found in) to the first TM that shows the response; the housekeeping time is when a
TM[3,25] first shows it (housekeeping runs at 1 Hz). A last test flies the SIL flight process with
a low battery and finds SAFE mode in its housekeeping.
"""
from __future__ import annotations

import struct
import sys
import threading
import time
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from flight.core.clock import parse_epoch
from flight.core.types import decode_fields
from flight.messages import CardFault
from flight.payload.cluster.card_process import CardState
from flight.payload.cluster.frames import Mode
from flight.testing import ComponentTester
from flight.wire.failure import FailureCode
from flight.wire.services import Stage

DEFAULT = Path(__file__).resolve().parents[2] / "flight" / "topologies" / "default.toml"
FAST = ["camera", "cluster", "monitor", "eventAction"]   # in the default rgFast's order
SLOW = ["health", "hk"]
NAMES = ["dispatcher", "eventLog", "health", "hk", "camera", "cluster", "modes", "monitor", "eventAction"]
PERIOD = 0.1
RESPONSE_S = 1.0
MEASURED: dict[str, tuple[float, float]] = {}  # response: (first TM, first housekeeping), simulated s


class Flight:
    """The default topology's autonomy and payload, driven cycle by cycle on simulated time."""

    def __init__(self, run_dir: Path, demo_model: Path, **cluster) -> None:
        doc = tomllib.loads(DEFAULT.read_text())
        entries = {c["name"]: dict(c) for c in doc["components"]}
        entries["cluster"].update(model=str(demo_model), **cluster)
        wiring = [c for c in doc["wiring"]["connections"]
                  if {c.split(".")[0].strip(), c.split("->")[1].split(".")[0].strip()} <= set(NAMES)]
        roles = {role: name for role, name in doc["roles"].items() if name in NAMES}
        self.h = ComponentTester.build(run_dir, [entries[n] for n in NAMES], connections=wiring, roles=roles,
                                       mission={"seed": 1, "orbit": doc["mission"]["orbit"]})
        self.epoch = parse_epoch(doc["clock"]["epoch"])
        self.tm: list[tuple[float, int, int, bytes]] = []
        self.c = self.h.components
        self.h.time = self.epoch
        self.h.start()
        deadline = time.monotonic() + 60
        while not self.c["cluster"].ready() or len(self.h.events_named("CardReady")) < 3:
            assert time.monotonic() < deadline, "the cards did not start"
            time.sleep(0.05)

    def cycle(self, n: int = 1) -> None:
        for _ in range(n):
            h = self.h
            h.tick += 1
            h.time = self.epoch + h.tick * PERIOD
            before = len(h.downlinks)
            for name in FAST:
                self.c[name].tick(h.tick, h.time)
            if h.tick % 10 == 0:
                for name in SLOW:
                    self.c[name].tick(h.tick, h.time)
            self.settle()
            self.tm += [(h.time, *packet) for packet in h.downlinks[before:]]

    def settle(self, timeout: float = 0.3) -> None:
        """Let the cluster thread run what this cycle gave it (at most ``timeout``)."""
        if not self.c["cluster"].engine.running:  # dead (until health has it restarted)
            return
        done = threading.Event()
        self.c["cluster"].engine.call(done.set)
        done.wait(timeout)

    def until(self, found, limit_s: float = 5.0) -> float:
        """Cycle until ``found()`` holds; the simulated time it first held at."""
        end = self.h.time + limit_s
        while not found():
            assert self.h.time < end, "not within the limit"
            self.cycle()
        return self.h.time

    def events(self, name: str) -> list[tuple[float, list]]:
        """(time, arguments) of every TM[5] report of the event ``name`` (component.Event)."""
        definition = self.h.dictionary.event_by_name[name]
        return [(t, decode_fields(definition.args, data, 2)[0]) for t, s, _, data in self.tm
                if s == 5 and struct.unpack_from(">H", data)[0] == definition.id]

    def housekeeping(self, channel: str) -> list[tuple[float, object]]:
        """(time, value) of ``channel`` in every TM[3,25] that carries it."""
        dictionary, wanted, out = self.h.dictionary, self.h.dictionary.channel_by_name[channel].id, []
        for t, s, u, data in self.tm:
            if (s, u) != (3, 25):
                continue
            offset = 2
            for channel_id in dictionary.housekeeping_by_id[struct.unpack_from(">H", data)[0]].channels:
                value, offset = dictionary.channel_by_id[channel_id].type.decode(data, offset)
                if channel_id == wanted:
                    out.append((t, value))
        return out

    def first(self, rows, predicate, since: float) -> float:
        return min(t for t, value in rows if t >= since and predicate(value))

    def stop(self) -> None:
        self.h.stop()


@pytest.fixture
def flight(demo_model, tmp_path):
    flights: list[Flight] = []

    def make(**cluster) -> Flight:
        flights.append(Flight(tmp_path / f"f{len(flights)}", demo_model, **cluster))
        return flights[-1]

    yield make
    for f in flights:
        f.stop()


def record(name: str, start: float, tm: float, hk: float) -> None:
    MEASURED[name] = (round(tm - start, 3), round(hk - start, 3))
    print(f"\n{name}: first TM {tm - start:.1f} s, housekeeping {hk - start:.1f} s after the condition")
    assert tm - start <= RESPONSE_S


def test_a_card_over_its_temperature_limit_is_parked_and_held(flight):
    f = flight()
    f.cycle(12)
    cluster = f.c["cluster"]
    start = f.h.time
    cluster.engine.call(lambda: setattr(cluster.engine.cards["card0"].thermal, "temperature_c", 80.0))
    parked = f.until(lambda: any(args == ["card0", "held by command"] for _, args in f.events("cluster.CardParked")))
    held = f.until(lambda: any(v & 1 for _, v in f.housekeeping("cluster.CardsHeld")))
    assert [args[:2] for _, args in f.events("monitor.AboveHighLimit")] == [[1, "cluster.card0_Temperature"]]
    assert [args for _, args in f.events("eventAction.ActionTriggered")] == [
        ["monitor.AboveHighLimit", "1", "cluster.PARK_CARD"]]
    assert cluster.engine.cards["card0"].state is CardState.PARKED
    assert cluster.engine.cards["card1"].state is CardState.READY
    record("card over its temperature limit -> parked", start, parked, held)


def test_a_card_switched_off_in_tmr_drops_the_cluster_to_dmr_with_an_event(flight):
    f = flight(max_failures=1)
    cluster = f.c["cluster"]
    cluster.SET_MODE(int(Mode.TMR))
    f.cycle(12)
    cluster.card_faults(CardFault("card1", "crash"))
    # the condition: how soon the cluster thread reads the crash is the host's (wall clock, slow on a
    # loaded machine); the response is timed from the switch-off
    start = f.until(lambda: f.h.events_named("CardSwitchedOff"), limit_s=600.0)
    changed = f.until(lambda: any(args[0] == "DMR" for _, args in f.events("cluster.ModeChanged")))
    dmr = f.until(lambda: any(v == int(Mode.DMR) for _, v in f.housekeeping("cluster.Mode")))
    assert [args for _, args in f.events("cluster.ModeChanged")][-1] == ["DMR", "was TMR (SET_MODE_IF)"]
    assert cluster.engine.mode is Mode.DMR
    record("card switched off in TMR -> DMR", start, changed, dmr)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_an_unresponsive_component_is_restarted(flight):
    f = flight()
    f.cycle(12)
    cluster = f.c["cluster"]
    cluster.engine.call(lambda: (_ for _ in ()).throw(SystemExit("the cluster thread dies")))
    f.cycle()
    assert not cluster.engine.running
    start = f.until(lambda: f.events("health.ComponentUnresponsive"), limit_s=6.0)  # health: 3 cycles at 1 Hz
    restarted = f.until(lambda: f.events("health.ComponentRestarted"))
    counted = f.until(lambda: any(v == 1 for _, v in f.housekeeping("health.Restarts")))
    assert [args for _, args in f.events("health.ComponentRestarted")] == [["cluster"]]
    f.until(lambda: f.events("health.ComponentRecovered"))
    assert cluster.engine.running
    record("unresponsive component -> restarted", start, restarted, counted)


def test_a_low_battery_enters_safe_mode(flight):
    f = flight()
    f.c["camera"].START_IMAGING(1000, 0)
    f.cycle(12)
    cluster = f.c["cluster"]
    start = f.h.time
    cluster.engine.call(lambda: setattr(cluster.engine.power.battery, "state_of_charge", 0.35))
    safe = f.until(lambda: f.events("modes.SafeModeEntered"))
    in_hk = f.until(lambda: any(v == 1 for _, v in f.housekeeping("modes.Mode")))
    f.cycle(2)
    assert {card.state for card in cluster.engine.cards.values()} == {CardState.PARKED}
    assert f.c["camera"].telemetry["FramesRemaining"] == 0 and f.events("camera.ImagingComplete")
    assert all(v == 7 for _, v in f.housekeeping("cluster.CardsHeld")[-1:])
    record("battery below its limit -> SAFE", start, safe, in_hk)


def test_safe_mode_by_command_and_back_to_nominal_releases_the_cards(flight):
    f = flight()
    f.cycle(2)
    modes, cluster = f.c["modes"], f.c["cluster"]
    cluster.PARK_CARD("card2")
    modes.ENTER_SAFE("test")
    f.cycle(3)
    assert {card.state for card in cluster.engine.cards.values()} == {CardState.PARKED}
    modes.ENTER_NOMINAL()
    f.until(lambda: cluster.engine.cards["card0"].state is CardState.READY)
    f.cycle(2)
    assert cluster.engine.cards["card2"].state is CardState.PARKED  # still held by PARK_CARD
    cluster.UNPARK_CARD("card2")
    f.until(lambda: cluster.engine.cards["card2"].state is CardState.READY)


def test_sil_flight_with_a_low_battery_is_in_safe_mode_in_housekeeping(flight_factory):
    api = flight_factory(["cluster.battery.state_of_charge=0.35"])
    mode = api.await_telemetry("modes.Mode", lambda v: v == 1, timeout=30)
    assert mode == 1
    api.await_telemetry("cluster.CardsHeld", lambda v: v == 7, timeout=30)
    api.send_and_assert_failure("camera.START_IMAGING", [1, 0], FailureCode.INVALID_STATE, Stage.COMPLETION,
                                timeout=30)
    api.send_and_assert_command("modes.ENTER_NOMINAL")
    api.await_telemetry("modes.Mode", lambda v: v == 0, timeout=30, start=api.telemetry_mark("modes.Mode"))
