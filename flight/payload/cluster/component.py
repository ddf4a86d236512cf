"""InferenceCluster: the payload's multi-card inference loop as a flight component.

Tiles come in on the ``tiles`` port; each is run on the cluster of accelerator cards configured
in the ``cards`` setting (a table per card: name, execution providers with options, threads,
pipeline depth, batch size, idle and active power, thermal constants) by the engine
(flight.payload.cluster.engine), and one :class:`Product` per frame goes out of the ``products``
port. It tells the sensor to wait when the cluster is saturated (``backpressure`` port), steps
the power and thermal models each cycle with mission time (flight.environment: orbit, battery),
parks cards rather than exceed the budget or a card's temperature limit, and switches to TMR over
the South Atlantic Anomaly when ``AutoTmrInSaa`` is set. With ``weights = "live"`` each card's
weights are a protected region (``<card>_weights``) offered on the ``regions`` port, whose
recovery reloads them from the model file and resets the card; the frame slots are offered on
the ``buffers`` port. Each card has its channels (``<card>_State``, ``<card>_Inferences``, ...)
and is commanded by name (``INJECT_CARD_FAULT``, ``RESET_CARD``, ...); card faults also come in
on the ``card_faults`` port (from the SEU injector). ``PARK_CARD`` holds a card parked until
``UNPARK_CARD`` (``CardsHeld``), the flight's SAFE mode (the ``flight_mode`` port) holds them all,
and ``SET_MODE_IF`` changes the redundancy mode only from a given one (an event-action's TMR to
DMR when a card is switched off: with auto-TMR on, the SAA still asks for TMR). The model that
flies is replaced in orbit by ``STAGE_MODEL``, ``START_CANARY`` and ``ROLLBACK_MODEL``
(flight.payload.cluster.model_update): the model is the one the slot record names.

| requirement | verified by |
| every tile: a product or a counted drop (by reason, in telemetry) | tests/system/test_cluster_component.py, |
|   | tests/system/test_sil.py |
| mode, policy and auto-TMR are commandable; card commands |   |
|   reach the cards; card status is per-card telemetry | tests/system/test_cluster_component.py |
| PARK_CARD, UNPARK_CARD, SET_MODE_IF and SAFE mode act on the cards | tests/system/test_onboard_response.py |
| the model update's commands, events and channels |   |
|   (flight.payload.cluster.model_update) | tests/system/test_model_update_cluster.py |
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from flight.core.component import Channel, CommandError, Component, Parameter, command
from flight.core.completion import Pending
from flight.core.context import Context
from flight.core.ports import OutputPort, input_port
from flight.core.types import DataType, Field, Limits, enumeration_of
from flight.core.settings import Setting
from flight.environment.orbit import mission_orbit
from flight.environment.power import BATTERY_SETTINGS, POWER_SETTINGS, Battery, PowerSystem
from flight.environment.thermal import THERMAL_SETTINGS
from flight.messages import Backpressure, Capture, CardFault, FlightMode, Product, RegionChange
from flight.payload.cluster.card_process import CardSpec, CardState
from flight.payload.cluster.engine import Cluster, ClusterConfig
from flight.payload.cluster.events import ENGINE_EVENTS, EVENTS
from flight.payload.cluster.frames import DropReason, Frame, Mode
from flight.payload.cluster.model_swap import Phase
from flight.payload.cluster.model_update import UPDATE_CHANNELS, UPDATE_EVENTS, ModelUpdate
from flight.payload.cluster.policies import POLICIES, make_policy
from flight.payload.detection import decode_outputs
from flight.protection.buffers import ByteBuffer

POLICY_NAMES = list(POLICIES)
POLICY_ENUMERATION = tuple(enumerate(POLICIES))
FAULTS = {1: "slow", 2: "hang", 3: "crash", 4: "wrong", 5: "latchup", 6: "sefi", 7: "tid"}
CARD_FAULT_KINDS = (*FAULTS.values(), "clear")
CARD = Field("card", DataType.STRING, description="the card's name, e.g. card0")
CARD_CHANNELS = {
    "State": Channel(DataType.U8, description="the card's state", enumeration=enumeration_of(CardState)),
    "Inferences": Channel(DataType.U32, "frames"),
    "Errors": Channel(DataType.U32, "errors", description="failed or outvoted inferences"),
    "Resets": Channel(DataType.U32, "resets"),
    "LatencyP50": Channel(DataType.F32, "ms"),
    "LatencyP99": Channel(DataType.F32, "ms"),
    "Utilization": Channel(DataType.F32, "%", description="over the last cycle"),
    "BusyTime": Channel(DataType.F64, "s", description="total compute time"),
    "Outstanding": Channel(DataType.U16, "requests"),
    "Power": Channel(DataType.F32, "W"),
    "Temperature": Channel(DataType.F32, "degC", Limits(yellow_high=75.0, red_high=85.0)),
    "Pid": Channel(DataType.U32),
    "ModelCrc": Channel(DataType.U32, description="CRC-32C of the model the card runs"),
}
ENGINE_KEYS = ("slots", "policy", "vote", "heartbeat_s", "heartbeat_timeout_s", "deadline_factor",
               "min_deadline_s", "max_failures", "failure_window_s", "disagreement_limit",
               "max_queue_delay_s", "frame_deadline_s", "weights", "refresh_s", "weights_chunk",
               "degraded_factor", "latchup_burn_s")


def _providers_reason(providers: list[Any]) -> str | None:
    for provider in providers:
        if not (isinstance(provider, str) or (isinstance(provider, list) and len(provider) == 2
                                              and isinstance(provider[0], str)
                                              and isinstance(provider[1], dict))):
            return 'each provider is a name or [name, {options}], e.g. ["CUDAExecutionProvider", {device_id = 1}]'
    return None if providers else "at least one provider"


CARD_SETTINGS = {
    "name": Setting(str, required=True, check=lambda n: None if n.isidentifier() else "a name such as card0",
                    description="the card's name: its channels are cluster.<name>_..."),
    "providers": Setting(list, ["CPUExecutionProvider"], check=_providers_reason,
                         description="ONNX Runtime execution providers in order of preference, a name or "
                                     "[name, {options}]; one this host lacks is replaced by CPU, with an event"),
    "threads": Setting(int, 1, 1, 256, description="intra-op threads of the card's session"),
    "capacity": Setting(int, 4, 1, 256, description="requests outstanding at once (pipeline depth)"),
    "max_batch": Setting(int, 1, 1, 256, description="frames per request; > 1 enables dynamic batching"),
    "idle_w": Setting(float, 5.0, 0.0, 10_000.0, description="power drawn while powered and idle"),
    "active_w": Setting(float, 25.0, 0.0, 10_000.0, description="power drawn while computing"),
    "thermal": Setting(dict, {}, fields=THERMAL_SETTINGS, description="the card's thermal model"),
    "overcurrent_w": Setting(float, 0.0, 0.0, 100_000.0,
                             description="latch-up protection: drawing more than this power-cycles the card at "
                                         "once; 0: 1.5 x active_w"),
}
CLUSTER_SETTINGS = {
    "model": Setting(str, "demo_model.onnx", description="the ONNX model, relative to the run directory"),
    "size": Setting(int, 256, 8, 4096, description="tile side, pixels (the camera's, and the model's input)"),
    "grid": Setting(int, 8, 1, 256, description="detection grid cells per side (the model's fire output)"),
    "mode": Setting(str, "THROUGHPUT", choices=tuple(m.name for m in Mode),
                    description="redundancy mode at start (SET_MODE changes it)"),
    "policy": Setting(str, ClusterConfig.policy, choices=tuple(POLICIES), description="balancing policy"),
    "vote": Setting(str, "bitwise", choices=("bitwise", "tolerance"),
                    description="bitwise (identical cards) or tolerance (mixed providers)"),
    "slots": Setting(int, ClusterConfig.slots, 1, 4096, description="frames admitted at once (shared memory)"),
    "heartbeat_s": Setting(float, ClusterConfig.heartbeat_s, 0.001, 60.0, description="card heartbeat period"),
    "heartbeat_timeout_s": Setting(float, ClusterConfig.heartbeat_timeout_s, 0.01, 600.0,
                                   description="a card silent this long is quarantined"),
    "deadline_factor": Setting(float, ClusterConfig.deadline_factor, 1.0, 1e4,
                               description="an inference is late after factor x latency x frames ahead ..."),
    "min_deadline_s": Setting(float, ClusterConfig.min_deadline_s, 0.001, 3600.0, description="... never before this"),
    "max_failures": Setting(int, ClusterConfig.max_failures, 1, 1000,
                            description="failures within failure_window_s before a card is switched off"),
    "failure_window_s": Setting(float, ClusterConfig.failure_window_s, 0.0, 1e7, description="see max_failures"),
    "disagreement_limit": Setting(int, ClusterConfig.disagreement_limit, 1, 1000,
                                  description="outvoted this many times in a row: quarantined"),
    "max_queue_delay_s": Setting(float, ClusterConfig.max_queue_delay_s, 0.0, 10.0,
                                 description="how long a partial batch may wait for companions"),
    "frame_deadline_s": Setting(float, ClusterConfig.frame_deadline_s, 0.0, 1e6,
                                description="a frame queued longer is dropped (DEADLINE); 0: never"),
    "weights": Setting(str, ClusterConfig.weights, choices=("live", "optimized"),
                       description="live: cards compute in place from scrubbed shared memory; optimized: "
                                   "ONNX Runtime's private copy, refreshed every refresh_s"),
    "refresh_s": Setting(float, ClusterConfig.refresh_s, 0.0, 1e7,
                         description="optimized weights: session refresh period (0: never)"),
    "weights_chunk": Setting(int, ClusterConfig.weights_chunk, 4, 1 << 24,
                             check=lambda n: None if n % 4 == 0 else "a multiple of 4 (float32 words)",
                             description="bytes per CRC chunk of the live weights"),
    "degraded_factor": Setting(float, ClusterConfig.degraded_factor, 1.1, 1000.0,
                               description="a card this many times slower than its peers is reported degraded"),
    "latchup_burn_s": Setting(float, ClusterConfig.latchup_burn_s, 0.001, 3600.0,
                              description="simulated boards (SIL): a latch-up not power-cycled within this burns "
                                          "the board out"),
    "battery": Setting(dict, {}, fields=BATTERY_SETTINGS, description="the battery"),
    "power": Setting(dict, {}, fields=POWER_SETTINGS, description="solar array and platform load"),
    "cards": Setting(list, [], item=Setting(dict, fields=CARD_SETTINGS),
                     description="the accelerator cards, a table each"),
}


def drop_channel(reason: DropReason) -> str:
    return f"Dropped{reason.name.title().replace('_', '')}"


def model_problem(path: Path, size: int, grid: int) -> str | None:
    """Why the model at ``path`` cannot fly on tiles of ``size`` with a ``grid`` (None: it can).
    It must read uint16 tiles [N, 4, size, size] and give float32 class logits [N, 3], a fire
    grid [N, grid, grid] and a cloud fraction [N], as the demo model does."""
    if not path.is_file():
        return (f"no model there: build the demo model with 'python -m flight.payload.demo_model "
                f"-o {path}' or set the model setting")
    try:
        session = ort.InferenceSession(path.read_bytes(), providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own classes for every kind of bad file
        return f"not a model ONNX Runtime can load ({str(error).splitlines()[0][:160]})"
    inputs, outputs = session.get_inputs(), session.get_outputs()
    wanted_in = [4, size, size]
    if len(inputs) != 1 or inputs[0].type != "tensor(uint16)" or list(inputs[0].shape[1:]) != wanted_in:
        got = ", ".join(f"{i.type} {i.shape}" for i in inputs)
        return f"takes {got}; the cluster feeds one tensor(uint16) [N, 4, {size}, {size}]"
    shapes = [list(o.shape[1:]) for o in outputs]
    if shapes != [[3], [grid, grid], []] or any(o.type != "tensor(float)" for o in outputs):
        got = ", ".join(f"{o.type} {o.shape}" for o in outputs)
        return f"gives {got}; the cluster decodes float [N, 3], [N, {grid}, {grid}], [N]"
    return None


def card_spec(entry: dict[str, Any]) -> CardSpec:
    """A card as its ``cards`` table configures it (defaults where it is silent)."""
    card = {**{key: s.default for key, s in CARD_SETTINGS.items()}, **entry}
    providers = tuple(p if isinstance(p, str) else (p[0], dict(p[1])) for p in card["providers"])
    return CardSpec(card["name"], providers, card["threads"], card["capacity"], card["max_batch"],
                    card["idle_w"], card["active_w"], dict(card["thermal"]), card["overcurrent_w"])


class InferenceCluster(ModelUpdate, Component):
    CHANNELS = {
        "Mode": Channel(DataType.U8, description="the redundancy mode", enumeration=enumeration_of(Mode)),
        "Policy": Channel(DataType.U8, description="the balancing policy", enumeration=POLICY_ENUMERATION),
        "FramesSubmitted": Channel(DataType.U32, "frames"),
        "FramesDelivered": Channel(DataType.U32, "frames"),
        **{drop_channel(r): Channel(DataType.U32, "frames") for r in DropReason},
        "FramesPending": Channel(DataType.U32, "frames", description="queued or in flight"),
        "Throughput": Channel(DataType.F32, "frames/s"),
        "Votes": Channel(DataType.U32, "frames"),
        "Disagreements": Channel(DataType.U32, "outputs"),
        "Redispatched": Channel(DataType.U32, "frames"),
        "Degraded": Channel(DataType.U32, "frames", description="run on fewer cards than the mode asks"),
        "WorkFailures": Channel(DataType.U32, "items", Limits(yellow_high=0),
                                description="work of the cluster thread that raised and was contained"),
        "Backpressure": Channel(DataType.BOOL),
        "RawBytesProcessed": Channel(DataType.U64, "bytes"),
        "BatteryCharge": Channel(DataType.F32, "%", Limits(red_low=30.0, yellow_low=40.0)),
        "PowerBudget": Channel(DataType.F32, "W"),
        "PayloadPower": Channel(DataType.F32, "W"),
        "Sunlit": Channel(DataType.BOOL),
        "InSaa": Channel(DataType.BOOL),
        "CardsHeld": Channel(DataType.U32, description="bit i: card i held parked (PARK_CARD, or SAFE mode)"),
        **UPDATE_CHANNELS,
    }
    EVENTS = {**EVENTS, **UPDATE_EVENTS}
    PARAMETERS = {
        "DetectionThreshold": Parameter(DataType.F32, 0.5, 0.05, 0.95,
                                        "fire score above which a cell is reported"),
        "AutoTmrInSaa": Parameter(DataType.BOOL, False, description="TMR while over the SAA"),
    }
    SETTINGS = CLUSTER_SETTINGS
    products = OutputPort(Product, "one per frame delivered", required=True)
    backpressure = OutputPort(Backpressure, "whether the sensor should wait")
    regions = OutputPort(RegionChange, "each card's live weights, for the scrubber and the SEU injector")
    buffers = OutputPort(RegionChange, "the frame slots, for the SEU injector")

    @classmethod
    def check_config(cls, config: dict[str, Any]) -> str | None:
        names = [card["name"] for card in config["cards"]]
        if not names:
            return "cards = []: at least one card"
        if len(set(names)) != len(names):
            return f"cards: each card needs its own name, got {', '.join(names)}"
        if config["size"] % config["grid"]:
            return f"grid = {config['grid']}: must divide size = {config['size']}"
        return None

    @classmethod
    def channels_for(cls, config: dict[str, Any]) -> dict[str, Channel]:
        per_card = {f"{card['name']}_{name}": channel for card in config["cards"]
                    for name, channel in CARD_CHANNELS.items()}
        return {**cls.CHANNELS, **per_card}

    def __init__(self, name: str, context: Context, config: dict[str, Any] | None = None) -> None:
        super().__init__(name, context, config)
        self.model_path = self.flying_model()
        self.base_mode = Mode[self.config["mode"]]
        self.cards = [card_spec(entry) for entry in self.config["cards"]]
        self._last_tick: tuple[float, float, int] | None = None
        self._backpressure = False
        self._raw_bytes = 0

    def preflight(self) -> str | None:
        problem = model_problem(self.model_path, self.config["size"], self.config["grid"])
        return problem and f"{self.name}.model = {str(self.model_path)!r}: {problem}"

    def start(self) -> None:
        config = self.config
        size = config["size"]
        self.grid = config["grid"]
        self.model_path = self.open_slots()
        engine_config = ClusterConfig(self.model_path, (4, size, size), mode=self.base_mode,
                                      seed=self.context.seed, boards_dir=str(self.context.run_dir / "boards"),
                                      **{k: config[k] for k in ENGINE_KEYS})
        power = PowerSystem(mission_orbit(self.context.mission), Battery(**config["battery"]),
                            **config["power"])
        self.engine = Cluster(engine_config, self.cards, self._product, self._engine_event, power)
        self.engine.start()
        self.offer_weights()  # each card's live weights, for the scrubber
        self._slots = ByteBuffer("frame_slots", self.engine.slots.array)
        self.buffers.send(RegionChange(self._slots))

    def stop(self) -> None:
        self.withdraw_weights()
        self.buffers.send(RegionChange(self._slots, added=False))
        self.engine.stop()

    def ready(self) -> bool:
        """Every card is in service or out of it, none still booting or probing."""
        return all(card.state not in (CardState.STARTING, CardState.PROBING)
                   for card in self.engine.cards.values())

    def restart(self) -> bool:
        return self.engine.restart()

    def request_ping(self, key: int) -> bool:
        """Answered by the cluster thread, so a wedged cluster stops answering."""
        self.engine.call(lambda: setattr(self, "last_pong", key))
        return True

    # --- frames -------------------------------------------------------------------------------
    @input_port(Capture, "tiles to classify")
    def tiles(self, capture: Capture) -> None:
        if self.engine.submit(capture.frame_id, capture.pixels, capture.priority):
            self._raw_bytes += capture.pixels.nbytes
        else:
            self._engine_event("frame_dropped", {"frame": capture.frame_id, "reason": "QUEUE_FULL"})
        self._publish_backpressure()

    def _publish_backpressure(self) -> None:
        if self.engine.backpressure != self._backpressure:
            self._backpressure = self.engine.backpressure
            self.backpressure.send(Backpressure(self._backpressure))

    def _product(self, frame: Frame, outputs: list[np.ndarray], cards: list[str]) -> None:
        """The engine's voted result for a frame (in the cluster thread): decode and send it."""
        logits, fire, cloud = outputs
        detection = decode_outputs(logits[None], fire.reshape(1, self.grid, self.grid), cloud,
                                   self.param("DetectionThreshold"))[0]
        names = [card.name for card in self.cards]
        product = Product(frame.frame_id, int(detection.tile_class), float(detection.confidence),
                          float(detection.cloud_fraction), detection.fire_cells,
                          int((time.monotonic() - frame.admitted) * 1e6),
                          names.index(cards[0]) if len(cards) == 1 else 0xFF)
        self.products.send(product)

    def _engine_event(self, kind: str, args: dict[str, Any]) -> None:
        if kind == "frame_dropped":
            args = {**args, "frame": args["frame"] & 0xFFFFFFFF}
        self.event(ENGINE_EVENTS[kind], **args)

    # --- commands: run in the cluster thread; each completes when its work has run ---------
    @command(Field("mode", DataType.U8, description="the redundancy mode", enumeration=enumeration_of(Mode)),
             description="Set the redundancy mode (the base mode when auto-TMR is on)")
    def SET_MODE(self, mode: int) -> Pending:
        self.base_mode = Mode(mode)
        return self.engine.call(lambda: self.engine.set_mode(Mode(mode), "commanded"))

    @command(Field("policy", DataType.U8, description="the balancing policy", enumeration=POLICY_ENUMERATION),
             description="Set the balancing policy")
    def SET_POLICY(self, policy: int) -> Pending:
        chosen = make_policy(POLICY_NAMES[policy], self.context.seed)
        return self.engine.call(lambda: setattr(self.engine, "policy", chosen))

    @command(CARD, Field("kind", DataType.U8, 1, 7, "1 slow, 2 hang, 3 crash, 4 wrong output, 5 latch-up, "
                                                    "6 SEFI, 7 total dose"),
             Field("factor", DataType.F32, 1.0, 100.0, "slow: slowdown factor; latch-up: extra current as a multiple "
                                                       "of active_w; total dose: percent slowdown per inference"),
             test_equipment=True,
             description="Inject a card fault (tests and fault-injection campaigns)")
    def INJECT_CARD_FAULT(self, card: str, kind: int, factor: float) -> Pending:
        return self.card_faults(CardFault(card, FAULTS[kind], factor))

    @command(CARD, test_equipment=True, description="Clear an injected slow, wrong-output or SEFI fault and fit "
                                                    "a fresh simulated board (no dose)")
    def CLEAR_CARD_FAULT(self, card: str) -> Pending:
        return self.card_faults(CardFault(card, "clear"))

    @command(CARD, description="Power-cycle a card (or power on a switched-off one): restart, reload "
                               "and verify the model, probe, readmit")
    def RESET_CARD(self, card: str) -> Pending:
        self._card(card)
        return self.engine.call(lambda: self.engine.reset_card(card))

    @command(CARD, description="Switch a card off; its frames in flight go to the others "
                               "(refused if it is off)")
    def POWER_OFF_CARD(self, card: str) -> Pending:
        self._card(card)
        return self.engine.call(lambda: self.engine.power_off(card))

    @command(CARD, description="Park a card (it takes no frames) and hold it parked until UNPARK_CARD")
    def PARK_CARD(self, card: str) -> Pending:
        self._card(card)
        return self.engine.call(lambda: self.engine.hold_card(card))

    @command(CARD, description="Release a card held by PARK_CARD (refused if it is not held): it runs again "
                               "as soon as the power budget and its temperature allow")
    def UNPARK_CARD(self, card: str) -> Pending:
        self._card(card)
        return self.engine.call(lambda: self.engine.release_card(card))

    @command(Field("if_mode", DataType.U8, description="the mode the cluster must be in",
                   enumeration=enumeration_of(Mode)),
             Field("mode", DataType.U8, description="the redundancy mode", enumeration=enumeration_of(Mode)),
             description="Set the redundancy mode to mode if the cluster runs in if_mode, else change "
                         "nothing (e.g. TMR to DMR when a card is lost)")
    def SET_MODE_IF(self, if_mode: int, mode: int) -> Pending:
        def change() -> None:
            if self.engine.mode is Mode(if_mode):
                self.base_mode = Mode(mode)
                self.engine.set_mode(Mode(mode), f"was {Mode(if_mode).name} (SET_MODE_IF)")

        return self.engine.call(change)

    @input_port(FlightMode, "the flight's mode: SAFE holds every card parked", required=False)
    def flight_mode(self, mode: FlightMode) -> Pending:
        def apply() -> None:
            if mode.safe and self.engine.swap.phase is Phase.CANARY:   # SAFE parks every card: no canary
                self.engine.swap.rollback("the flight entered SAFE mode")
            self.engine.set_safe(mode.safe)
        return self.engine.call(apply)

    @input_port(CardFault, "card faults to inject (from the SEU injector)", required=False)
    def card_faults(self, fault: CardFault) -> Pending:
        """Refused at once for an unknown card or fault; else done by the cluster thread (refused
        there if the card has no process)."""
        self._card(fault.card)
        if fault.kind not in CARD_FAULT_KINDS:
            raise CommandError(f"no card fault {fault.kind!r} (faults: {', '.join(CARD_FAULT_KINDS)})")
        return self.engine.call(lambda: self.engine.inject_fault(fault.card, fault.kind, fault.factor))

    def _card(self, name: str) -> None:
        if name not in self.engine.cards:
            raise CommandError(f"no card {name!r} (cards: {', '.join(self.engine.cards)})")

    # --- each cycle ---------------------------------------------------------------------------
    def tick(self, tick: int, now: float) -> None:
        engine = self.engine
        wall = time.monotonic()
        if self._last_tick is not None:
            last_now, last_wall, last_delivered = self._last_tick
            dt, wall_dt = now - last_now, wall - last_wall
            engine.call(lambda: engine.step_power(now, dt, wall_dt))
            self.tlm("Throughput", (engine.delivered - last_delivered) / wall_dt if wall_dt > 0 else 0.0)
        self._last_tick = (now, wall, engine.delivered)
        self._follow_the_orbit(now)
        self._publish_backpressure()
        self._report(engine)
        self.follow_update()

    def _follow_the_orbit(self, now: float) -> None:
        engine = self.engine
        orbit = engine.power.orbit
        in_saa = orbit.in_saa(now)
        self.tlm("Sunlit", orbit.sunlit(now))
        self.tlm("InSaa", in_saa)
        self.tlm("BatteryCharge", 100.0 * engine.power.battery.state_of_charge)
        self.tlm("PowerBudget", engine.power.payload_budget_w(now))
        if self.param("AutoTmrInSaa"):
            wanted = Mode.TMR if in_saa else self.base_mode
            if wanted is not engine.mode:
                reason = "entering the SAA" if in_saa else "leaving the SAA"
                engine.call(lambda: engine.set_mode(wanted, reason))

    def _report(self, engine: Cluster) -> None:
        self.tlm("Mode", int(engine.mode))
        self.tlm("Policy", POLICY_NAMES.index(engine.policy.name))
        self.tlm("FramesSubmitted", engine.submitted & 0xFFFFFFFF)
        self.tlm("FramesDelivered", engine.delivered & 0xFFFFFFFF)
        for reason, count in engine.dropped.items():
            self.tlm(drop_channel(reason), count & 0xFFFFFFFF)
        self.tlm("FramesPending", max(engine.pending, 0))
        self.tlm("Votes", engine.votes & 0xFFFFFFFF)
        self.tlm("Disagreements", engine.disagreements & 0xFFFFFFFF)
        self.tlm("Redispatched", engine.redispatched & 0xFFFFFFFF)
        self.tlm("Degraded", engine.degraded & 0xFFFFFFFF)
        self.tlm("WorkFailures", engine.work_failures & 0xFFFFFFFF)
        self.tlm("Backpressure", engine.backpressure)
        self.tlm("RawBytesProcessed", self._raw_bytes)
        self.tlm("PayloadPower", sum(card.power_w for card in list(engine.cards.values())))
        self.tlm("CardsHeld", sum(1 << i for i, card in enumerate(self.cards)
                                  if engine.power_manager.is_held(card.name)))
        for card in list(engine.cards.values()):
            p50, p99 = card.latency_percentiles()
            for channel, value in (
                    ("State", int(card.state)), ("Inferences", card.inferences & 0xFFFFFFFF),
                    ("Errors", card.errors & 0xFFFFFFFF), ("Resets", card.resets & 0xFFFFFFFF),
                    ("LatencyP50", p50 * 1e3), ("LatencyP99", p99 * 1e3),
                    ("Utilization", 100.0 * card.utilization), ("BusyTime", card.busy_s),
                    ("Outstanding", card.outstanding), ("Power", card.power_w),
                    ("Temperature", card.thermal.temperature_c), ("Pid", card.pid),
                    ("ModelCrc", engine.supervisor.images[card.name].crc)):
                self.tlm(f"{card.name}_{channel}", value)
