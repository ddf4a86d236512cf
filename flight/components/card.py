"""AcceleratorCard: one accelerator card as the topology and the ground see it.

The card's process, health and measurements live in the cluster (flight.payload.cluster); this
component carries the card's configuration (execution providers with options, threads, pipeline
depth, batch size, idle and active power, thermal constants), its telemetry (published by the
cluster on the bus topic ``card.<name>.status`` each cycle), and its commands, which it hands to
the cluster on the bus topic ``cluster.card_command``.

| requirement | verified by |
| the card's commands reach the cluster; its status becomes its telemetry | tests/test_cluster_components.py |
"""
from __future__ import annotations

from typing import Any

from flight.component import Channel, CommandError, Component, command
from flight.payload.cards.card import CardSpec, CardState
from flight.types import DataType, Field
from flight.wire.dictionary import Limits

FAULTS = {1: "slow", 2: "hang", 3: "crash", 4: "wrong"}


class AcceleratorCard(Component):
    CHANNELS = {
        "State": Channel(DataType.U8, description=", ".join(f"{s.value}={s.name}" for s in CardState)),
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
    }

    def spec(self) -> CardSpec:
        providers = tuple(p if isinstance(p, str) else (p[0], dict(p[1]))
                          for p in self.config.get("providers", ["CPUExecutionProvider"]))
        return CardSpec(self.name, providers, int(self.config.get("threads", 1)),
                        int(self.config.get("capacity", 4)), int(self.config.get("max_batch", 1)),
                        float(self.config.get("idle_w", 5.0)), float(self.config.get("active_w", 25.0)),
                        dict(self.config.get("thermal", {})))

    def start(self) -> None:
        self.ports.bus.subscribe(f"card.{self.name}.status", self._status)

    def _status(self, status: dict[str, Any]) -> None:
        for channel, value in status.items():
            self.tlm(channel, value)

    def _ask(self, action: str, **args: Any) -> None:
        if not self.ports.bus.publish("cluster.card_command", {"card": self.name, "action": action,
                                                                **args}):
            raise CommandError("no cluster in this topology")

    @command(Field("kind", DataType.U8, 1, 4, "1 slow, 2 hang, 3 crash, 4 wrong output"),
             Field("factor", DataType.F32, 1.0, 100.0, "slowdown factor (slow only)"),
             description="Inject a card fault (tests and fault-injection campaigns)")
    def INJECT_FAULT(self, kind: int, factor: float) -> None:
        self._ask("fault", kind=FAULTS[kind], factor=factor)

    @command(description="Clear an injected slow or wrong-output fault")
    def CLEAR_FAULT(self) -> None:
        self._ask("fault", kind="clear", factor=1.0)

    @command(description="Power-cycle the card (or power on a switched-off one): restart, reload and "
                         "verify the model, probe, readmit")
    def RESET(self) -> None:
        self._ask("reset")

    @command(description="Switch the card off; its frames in flight go to the others")
    def POWER_OFF(self) -> None:
        self._ask("power_off")
