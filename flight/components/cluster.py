"""InferenceCluster: the payload's multi-card inference loop as a flight component.

Receives captured tiles (bus topic ``"tiles"``), runs them on the cluster of cards named in its
``cards`` setting (each an :class:`AcceleratorCard` component), and downlinks one TM[200,1]
product per frame. It tells the sensor to wait when the cluster is saturated (bus topic
``"payload.backpressure"``), steps the power and thermal models each cycle with mission time
(orbit: sunlit or eclipse; battery state of charge), parks cards rather than exceed the budget or
a card's temperature limit, and switches to TMR over the South Atlantic Anomaly when
``AutoTmrInSaa`` is set. With ``weights = "live"`` each card's weights are a protected region
(``<card>_weights``) in the registry, whose recovery reloads them from the model file and resets
the card. All of it is telemetry; every card and frame event is an event.

| requirement | verified by |
| every tile: a product or a counted drop (by reason, in telemetry) | tests/test_cluster_components.py, test_sil.py |
| mode, policy and auto-TMR are commandable; card commands reach the cluster | tests/test_cluster_components.py |
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from flight.component import Channel, Component, Event, Parameter, StartError, command
from flight.payload.cards.policies import POLICIES, make_policy
from flight.payload.cards.card import CardState
from flight.payload.cards.power import Battery, OrbitModel, PowerSystem
from flight.payload.cluster import Cluster, ClusterConfig, DropReason, Frame, Mode
from flight.payload.detection import decode_outputs
from flight.protection.buffers import ByteBuffer
from flight.types import DataType, Field
from flight.wire import services as st
from flight.wire.dictionary import Limits, Severity

POLICY_NAMES = list(POLICIES)


def _card_event(fmt: str, *fields: Field, severity: Severity = Severity.WARNING_LO,
                throttle: int = 0) -> Event:
    return Event(severity, fmt, fields, throttle)


CARD = Field("card", DataType.STRING)


class InferenceCluster(Component):
    CHANNELS = {
        "Mode": Channel(DataType.U8, description="0 THROUGHPUT, 1 TMR, 2 DMR"),
        "Policy": Channel(DataType.U8, description=", ".join(f"{i} {n}" for i, n in enumerate(POLICIES))),
        "FramesSubmitted": Channel(DataType.U32, "frames"),
        "FramesDelivered": Channel(DataType.U32, "frames"),
        **{f"Dropped{r.name.title().replace('_', '')}": Channel(DataType.U32, "frames") for r in DropReason},
        "FramesPending": Channel(DataType.U32, "frames", description="queued or in flight"),
        "Throughput": Channel(DataType.F32, "frames/s"),
        "Votes": Channel(DataType.U32, "frames"),
        "Disagreements": Channel(DataType.U32, "outputs"),
        "Redispatched": Channel(DataType.U32, "frames"),
        "Degraded": Channel(DataType.U32, "frames", description="run on fewer cards than the mode asks"),
        "Backpressure": Channel(DataType.BOOL),
        "RawBytesProcessed": Channel(DataType.U64, "bytes"),
        "ProductBytes": Channel(DataType.U64, "bytes"),
        "BatteryCharge": Channel(DataType.F32, "%", Limits(red_low=30.0, yellow_low=40.0)),
        "PowerBudget": Channel(DataType.F32, "W"),
        "PayloadPower": Channel(DataType.F32, "W"),
        "Sunlit": Channel(DataType.BOOL),
        "InSaa": Channel(DataType.BOOL),
    }
    EVENTS = {
        "CardReady": _card_event("{card} ready (resets so far: {resets})", CARD,
                                 Field("resets", DataType.U32), severity=Severity.ACTIVITY),
        "CardQuarantined": _card_event("{card} quarantined: {reason}", CARD,
                                       Field("reason", DataType.STRING), severity=Severity.WARNING_HI),
        "CardSwitchedOff": _card_event("{card} switched off after {failures} failures", CARD,
                                       Field("failures", DataType.U16), severity=Severity.FATAL),
        "CardDisagreed": _card_event("{card} outvoted on frame {frame} ({count} in a row)", CARD,
                                     Field("frame", DataType.U32), Field("count", DataType.U16),
                                     throttle=50),
        "ModelCrcMismatch": _card_event("{card} loaded a model with CRC-32C {crc:08x}, expected "
                                        "{expected:08x}", CARD, Field("crc", DataType.U32),
                                        Field("expected", DataType.U32), severity=Severity.WARNING_HI),
        "ProviderUnavailable": _card_event("{card}: execution provider {provider} not on this host: "
                                           "CPU used", CARD, Field("provider", DataType.STRING)),
        "FrameDropped": _card_event("Frame {frame} dropped: {reason}", Field("frame", DataType.U32),
                                    Field("reason", DataType.STRING), throttle=50),
        "ModeChanged": _card_event("Mode {mode}: {reason}", Field("mode", DataType.STRING),
                                   Field("reason", DataType.STRING), severity=Severity.ACTIVITY),
        "CardParked": _card_event("{card} parked: {reason}", CARD, Field("reason", DataType.STRING),
                                  severity=Severity.ACTIVITY),
        "CardUnparked": _card_event("{card} back in service", CARD, severity=Severity.ACTIVITY),
    }
    PARAMETERS = {
        "DetectionThreshold": Parameter(DataType.F32, 0.5, 0.05, 0.95,
                                        "fire score above which a cell is reported"),
        "AutoTmrInSaa": Parameter(DataType.BOOL, False, description="TMR while over the SAA"),
    }
    _ENGINE_EVENTS = {"card_ready": "CardReady", "card_quarantined": "CardQuarantined",
                      "card_off": "CardSwitchedOff", "card_disagreed": "CardDisagreed",
                      "model_crc_mismatch": "ModelCrcMismatch",
                      "provider_unavailable": "ProviderUnavailable", "frame_dropped": "FrameDropped",
                      "mode_changed": "ModeChanged", "card_parked": "CardParked",
                      "card_unparked": "CardUnparked"}

    def __init__(self, name: str, ports: Any, config: dict[str, Any] | None = None) -> None:
        super().__init__(name, ports, config)
        model = Path(str(self.config.get("model", "demo_model.onnx")))
        self.model_path = model if model.is_absolute() else Path(ports.run_dir) / model
        self.base_mode = Mode[str(self.config.get("mode", "THROUGHPUT")).upper()]
        self._last_tick: tuple[float, float, int] | None = None
        self._backpressure = False
        self._raw_bytes = 0
        self._product_bytes = 0

    def start(self) -> None:
        if not self.model_path.is_file():
            raise StartError(f"no model at {self.model_path}: build the demo model with "
                             f"'python -m tools.build_model -o {self.model_path}' or set cluster.model")
        config = self.config
        size, grid = int(config.get("size", 256)), int(config.get("grid", 8))
        self.grid = grid
        keys = ("slots", "policy", "vote", "heartbeat_s", "heartbeat_timeout_s",
                "deadline_factor", "min_deadline_s", "max_failures", "failure_window_s",
                "disagreement_limit", "max_queue_delay_s", "frame_deadline_s", "weights", "refresh_s",
                "weights_chunk")
        engine_config = ClusterConfig(self.model_path, (4, size, size), mode=self.base_mode,
                                      seed=self.ports.seed, **{k: config[k] for k in keys if k in config})
        power = PowerSystem(OrbitModel(**config.get("orbit", {})), Battery(**config.get("battery", {})),
                            **config.get("power", {}))
        cards = [self.ports.components[name].spec() for name in config.get("cards", [])]
        self.engine = Cluster(engine_config, cards, self._product, self._engine_event, power)
        self.ports.bus.subscribe("tiles", self.accept)
        self.ports.bus.subscribe("cluster.card_command", self._card_command)
        self.engine.start()
        if self.engine.weights is not None:  # each card's live weights, for the scrubber
            for card, region in self.engine.weights.regions.items():
                region.recover = self._weights_recovery(card)
                self.ports.regions.add(region)
        self.ports.buffers.add(ByteBuffer("frame_slots", self.engine.slots.array))  # the inputs

    def _weights_recovery(self, card: str) -> Any:
        def recover() -> None:
            """reload the weights from the model file and reset the card"""
            self.engine.weights.reload(card)
            self.engine.call(lambda: self.engine.reset_card(card, "weights reloaded"))

        return recover

    def stop(self) -> None:
        if self.engine.weights is not None:
            for region in self.engine.weights.regions.values():
                self.ports.regions.remove(region.name)
        self.ports.buffers.remove("frame_slots")
        self.engine.stop()

    def ready(self) -> bool:
        """Every card is in service or out of it, none still booting or probing."""
        return all(card.state not in (CardState.STARTING, CardState.PROBING)
                   for card in self.engine.cards.values())

    def request_ping(self, key: int) -> bool:
        """Answered by the cluster thread, so a wedged cluster stops answering."""
        self.engine.call(lambda: setattr(self, "last_pong", key))
        return True

    # --- frames -------------------------------------------------------------------------------
    def accept(self, capture: Any) -> None:
        """Bus handler for a captured tile (``capture.tile``, ``capture.priority``)."""
        tile = capture.tile
        if self.engine.submit(tile.frame_id, tile.pixels, capture.priority):
            self._raw_bytes += tile.pixels.nbytes
        else:
            self._engine_event("frame_dropped", {"frame": tile.frame_id, "reason": "QUEUE_FULL"})
        self._publish_backpressure()

    def _publish_backpressure(self) -> None:
        if self.engine.backpressure != self._backpressure:
            self._backpressure = self.engine.backpressure
            self.ports.bus.publish("payload.backpressure", self._backpressure)

    def _product(self, frame: Frame, output: bytes, cards: list[str]) -> None:
        logits, fire, cloud = self.engine.split(output)
        detection = decode_outputs(logits[None], fire.reshape(1, self.grid, self.grid), cloud,
                                   self.param("DetectionThreshold"))[0]
        names = list(self.engine.cards)
        card = names.index(cards[0]) if len(cards) == 1 else 0xFF  # 0xFF: voted
        product = st.InferenceProduct(frame.frame_id, int(detection.tile_class),
                                      float(detection.confidence), float(detection.cloud_fraction),
                                      detection.fire_cells,
                                      int((time.monotonic() - frame.admitted) * 1e6), card).pack()
        self._product_bytes += len(product)
        self.ports.downlink(st.PRODUCT, st.INFERENCE_PRODUCT, product)

    def _engine_event(self, kind: str, args: dict[str, Any]) -> None:
        if kind == "frame_dropped":
            args = {**args, "frame": args["frame"] & 0xFFFFFFFF}
        self.event(self._ENGINE_EVENTS[kind], **args)

    # --- commands -----------------------------------------------------------------------------
    def _card_command(self, request: dict[str, Any]) -> None:
        card, action = request["card"], request["action"]
        if action == "fault":
            self.engine.call(lambda: self.engine.inject_fault(card, request["kind"], request["factor"]))
        elif action == "reset":
            self.engine.call(lambda: self.engine.reset_card(card))
        elif action == "power_off":
            self.engine.call(lambda: self.engine.power_off(card))

    @command(Field("mode", DataType.U8, 0, 2, "0 THROUGHPUT, 1 TMR, 2 DMR"),
             description="Set the redundancy mode (the base mode when auto-TMR is on)")
    def SET_MODE(self, mode: int) -> None:
        self.base_mode = Mode(mode)
        self.engine.call(lambda: self.engine.set_mode(Mode(mode), "commanded"))

    @command(Field("policy", DataType.U8, 0, len(POLICIES) - 1,
                   ", ".join(f"{i} {n}" for i, n in enumerate(POLICIES))),
             description="Set the balancing policy")
    def SET_POLICY(self, policy: int) -> None:
        chosen = make_policy(POLICY_NAMES[policy], self.ports.seed)
        self.engine.call(lambda: setattr(self.engine, "policy", chosen))

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
        if engine.power is not None:
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
        self._publish_backpressure()
        self._report(engine)

    def _report(self, engine: Cluster) -> None:
        self.tlm("Mode", int(engine.mode))
        self.tlm("Policy", POLICY_NAMES.index(engine.policy.name))
        self.tlm("FramesSubmitted", engine.submitted & 0xFFFFFFFF)
        self.tlm("FramesDelivered", engine.delivered & 0xFFFFFFFF)
        for reason, count in engine.dropped.items():
            self.tlm(f"Dropped{reason.name.title().replace('_', '')}", count & 0xFFFFFFFF)
        self.tlm("FramesPending", max(engine.pending, 0))
        self.tlm("Votes", engine.votes & 0xFFFFFFFF)
        self.tlm("Disagreements", engine.disagreements & 0xFFFFFFFF)
        self.tlm("Redispatched", engine.redispatched & 0xFFFFFFFF)
        self.tlm("Degraded", engine.degraded & 0xFFFFFFFF)
        self.tlm("Backpressure", engine.backpressure)
        self.tlm("RawBytesProcessed", self._raw_bytes)
        self.tlm("ProductBytes", self._product_bytes)
        payload_w = 0.0
        for card in list(engine.cards.values()):
            p50, p99 = card.latency_percentiles()
            payload_w += card.power_w
            self.ports.bus.publish(f"card.{card.name}.status", {
                "State": int(card.state), "Inferences": card.inferences & 0xFFFFFFFF,
                "Errors": card.errors & 0xFFFFFFFF, "Resets": card.resets & 0xFFFFFFFF,
                "LatencyP50": p50 * 1e3, "LatencyP99": p99 * 1e3,
                "Utilization": 100.0 * card.utilization, "BusyTime": card.busy_s,
                "Outstanding": card.outstanding,
                "Power": card.power_w, "Temperature": card.thermal.temperature_c, "Pid": card.pid})
        self.tlm("PayloadPower", payload_w)
