"""The inference cluster's events, and which engine report becomes which event.

The engine (flight.payload.cluster.engine) reports what happens to cards and frames as
``(kind, arguments)``; the component (flight.payload.cluster.component) emits the event
:data:`ENGINE_EVENTS` names for each kind, with the arguments declared here.
"""
from __future__ import annotations

from flight.core.component import Event
from flight.core.types import DataType, Field, Severity

CARD = Field("card", DataType.STRING)


def _event(fmt: str, *fields: Field, severity: Severity = Severity.WARNING_LO,
           throttle: int = 0) -> Event:
    return Event(severity, fmt, fields, throttle)


EVENTS = {
    "CardReady": _event("{card} ready (resets so far: {resets})", CARD,
                        Field("resets", DataType.U32), severity=Severity.ACTIVITY),
    "CardQuarantined": _event("{card} quarantined: {reason}", CARD,
                              Field("reason", DataType.STRING), severity=Severity.WARNING_HI),
    "CardSwitchedOff": _event("{card} switched off after {failures} failures", CARD,
                              Field("failures", DataType.U16), severity=Severity.FATAL),
    "CardDisagreed": _event("{card} outvoted on frame {frame} ({count} in a row)", CARD,
                            Field("frame", DataType.U32), Field("count", DataType.U16),
                            throttle=50),
    "ModelCrcMismatch": _event("{card} loaded a model with CRC-32C {crc:08x}, expected "
                               "{expected:08x}", CARD, Field("crc", DataType.U32),
                               Field("expected", DataType.U32), severity=Severity.WARNING_HI),
    "ProviderUnavailable": _event("{card}: execution provider {provider} unavailable on this host "
                                  "(not built in, or could not be started): CPU used", CARD,
                                  Field("provider", DataType.STRING)),
    "FrameDropped": _event("Frame {frame} dropped: {reason}", Field("frame", DataType.U32),
                           Field("reason", DataType.STRING), throttle=50),
    "ModeChanged": _event("Mode {mode}: {reason}", Field("mode", DataType.STRING),
                          Field("reason", DataType.STRING), severity=Severity.ACTIVITY),
    "CardParked": _event("{card} parked: {reason}", CARD, Field("reason", DataType.STRING),
                         severity=Severity.ACTIVITY),
    "CardUnparked": _event("{card} back in service", CARD, severity=Severity.ACTIVITY),
    "CardStartFailed": _event("{card} could not be started ({reason}): next try in {retry_s} s", CARD,
                              Field("reason", DataType.STRING), Field("retry_s", DataType.F32),
                              severity=Severity.WARNING_HI, throttle=50),
    "CardOverCurrent": _event("{card} drew {power_w} W, over its limit of {limit_w} W: power-cycled (latch-up)",
                              CARD, Field("power_w", DataType.F32), Field("limit_w", DataType.F32),
                              severity=Severity.WARNING_HI),
    "CardDegraded": _event("{card} slowed to {latency_ms} ms per frame, its peers {peers_ms} ms (total dose?)",
                           CARD, Field("latency_ms", DataType.F32), Field("peers_ms", DataType.F32)),
    "CardRecovered": _event("{card} back to {latency_ms} ms per frame (its peers {peers_ms} ms)",
                            CARD, Field("latency_ms", DataType.F32), Field("peers_ms", DataType.F32),
                            severity=Severity.ACTIVITY),
    "WorkFailed": _event("Cluster work failed and was contained: {detail}", Field("detail", DataType.STRING),
                         severity=Severity.WARNING_HI, throttle=50),
}

ENGINE_EVENTS = {"card_ready": "CardReady", "card_quarantined": "CardQuarantined",
                 "card_off": "CardSwitchedOff", "card_disagreed": "CardDisagreed",
                 "model_crc_mismatch": "ModelCrcMismatch",
                 "provider_unavailable": "ProviderUnavailable", "frame_dropped": "FrameDropped",
                 "mode_changed": "ModeChanged", "card_parked": "CardParked",
                 "card_unparked": "CardUnparked", "card_spawn_failed": "CardStartFailed",
                 "work_failed": "WorkFailed", "card_overcurrent": "CardOverCurrent",
                 "card_degraded": "CardDegraded", "card_recovered": "CardRecovered"}
