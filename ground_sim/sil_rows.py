"""The SIL run's summary from what the ground holds: its products, telemetry, events, command log and
archive, plus the SEU injector's ground truth (``injections.jsonl`` in the run directory).

Each row of :func:`build_summary` has its meaning or verdict (ground_sim.sil_summary); the checks
fail the run (exit 1) when one fails: all products, zero drops, no wrong product, every upset
repaired or recovered, commands verified, clean shutdown, the flight's dictionary digest equal to
the ground's, the archive complete.

| requirement | verified by |
| --- | --- |
| a short run passes every check; rows, upsets, slips and cards explained | tests/system/test_sil.py |
| a dictionary digest that differs from the ground's fails "dictionary matches" | tests/unit/ground/test_sil_output.py |
| an archive that failed or lost a row fails "archive complete" | tests/system/test_sil_data.py |
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from flight.payload.detection import Detection, DetectionScore, score
from flight.payload.scene import SceneGenerator, TileClass
from flight.wire import services as st
from ground_sim.station import GroundStation
from ground_sim.sil_summary import (FINDINGS, Check, Row, Summary, account_upsets, card_table, limit_text, slip_row,
                                    upset_rows)

TMR_CHUNK = 4096      # flight.protection.regions.TmrRegion's default: the parameter store's chunk


@dataclass
class Tally:
    """What the ground counted of a run, from its products, telemetry and command log."""

    frames: int
    score: DetectionScore
    classes: dict[TileClass, int]
    wrong: int
    drops: dict[str, int]
    missing: int
    completed: int
    failed: int


def tally(station: GroundStation, frames: int, seed: int) -> Tally:
    scene = SceneGenerator(seed)
    total = DetectionScore(0, 0, 0, 0, 0)
    classes = {c: 0 for c in TileClass}
    wrong = 0
    for product in station.products:
        detection = Detection(TileClass(product.tile_class), product.confidence,
                              product.fire_cells, product.cloud_fraction)
        frame_score = score(detection, scene.truth(product.frame_id))
        total = total + frame_score
        wrong += frame_score.false_positive_cells + frame_score.false_negative_cells > 0 or (
            frame_score.class_correct == 0)
        classes[TileClass(product.tile_class)] += 1
    drops = {name.partition(".Dropped")[2]: station.latest(name, 0)
             for name in station.dictionary.channel_by_name if name.startswith("cluster.Dropped")}
    commands = station.command_log
    return Tally(frames, total, classes, wrong, drops,
                 frames - len({p.frame_id for p in station.products}),
                 sum(1 for c in commands if c.completed), sum(1 for c in commands if c.failure))


def read_injections(path: Path) -> list[dict[str, Any]]:
    """The SEU injector's ground truth (none if the file is missing)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def upsets(station: GroundStation, injections: list[dict[str, Any]], weights_chunk: int) -> list[Row]:
    """The upset rows: what was injected, found, and why the two differ."""
    latest = station.latest
    last_report = max((history[-1][0] for history in station.telemetry.values() if history), default=0.0)
    end = max([last_report, *(e.time for e in station.events)])
    chunk_of: Callable[[str], int] = lambda region: weights_chunk if region.endswith("_weights") else TMR_CHUNK  # noqa: E731
    account = account_upsets(
        injections, [e for e in station.events if e.name in FINDINGS], latest("scrubber.Detected", 0), chunk_of,
        end, latest("scrubber.DetectionLatency", 0.0),
        [(e.args["region"], e.time) for e in station.events if e.name == "scrubber.RecoveryStarted"])
    return upset_rows(account, sum(bin(r["mask"]).count("1") for r in injections if "mask" in r),
                      latest("scrubber.Repaired", 0), latest("scrubber.Uncorrectable", 0),
                      latest("scrubber.Recoveries", 0))


def slips(station: GroundStation, frames_lost: int) -> Row:
    groups = {name[:-len(".CycleSlips")]: (station.latest(name, 0), station.latest(name[:-len("Slips")] + "s", 0))
              for name in station.dictionary.channel_by_name if name.endswith(".CycleSlips")}
    return slip_row(groups, frames_lost)


def summary_rows(station: GroundStation, t: Tally, exit_code: int, elapsed: float, imaging_time: float,
                 injections: list[dict[str, Any]], weights_chunk: int) -> list[Row]:
    """Every row of the summary, in the order printed: the imaging, then the link, store and archive."""
    return [*imaging_rows(station, t, elapsed, imaging_time, injections, weights_chunk),
            *downlink_rows(station, t, exit_code)]


def imaging_rows(station: GroundStation, t: Tally, elapsed: float, imaging_time: float,
                 injections: list[dict[str, Any]], weights_chunk: int) -> list[Row]:
    """The rows of what was imaged, computed and delivered, and of the upsets."""
    latest, stats = station.latest, station.stats
    raw = latest("cluster.RawBytesProcessed", 0)
    product_bytes = stats.bytes_by_service[st.PRODUCT]
    captured, delivered, deferred = (latest(c, 0) for c in ("camera.FramesCaptured", "cluster.FramesDelivered",
                                                            "camera.CapturesDeferred"))
    s, classes = t.score, {c.name.lower(): t.classes[c] for c in TileClass}
    return [
        Row("wall time (imaging)", {"wall_s": round(elapsed, 3), "imaging_s": round(imaging_time, 3)},
            f"{elapsed:.1f} s ({imaging_time:.1f} s)", "the whole run, start to shutdown; imaging: first command "
            "to last product"),
        Row("frames captured / delivered", {"captured": captured, "delivered": delivered, "deferred": deferred},
            f"{captured:,} / {delivered:,}  (captures deferred by backpressure: {deferred:,})",
            "frames the camera captured / the cluster delivered; a deferred capture waited for a free slot"),
        Row("products downlinked", {"products": len(station.products), **classes},
            f"{len(station.products):,}  (" + ", ".join(f"{k} {v:,}" for k, v in classes.items()) + ")",
            "one product per frame, by the tile class the cluster found"),
        Row("fire cells: precision / recall", {"precision": s.precision, "recall": s.recall,
                                               "true_positive": s.true_positive_cells,
                                               "false_positive": s.false_positive_cells,
                                               "false_negative": s.false_negative_cells},
            f"{s.precision:.4f} / {s.recall:.4f}  (TP {s.true_positive_cells:,}, FP {s.false_positive_cells:,}, "
            f"FN {s.false_negative_cells:,})", "against the scene's ground truth, recomputed on the ground from the "
            "seed; 1.0 / 1.0: every fire cell found, none invented"),
        Row("tile class accuracy", s.class_accuracy, f"{s.class_accuracy:.4f}",
            "share of products whose tile class equals the ground truth's"),
        Row("wrong products delivered", t.wrong, f"{t.wrong:,}", "products that differ from the ground truth: "
            "must be 0 (an upset that reached a result was outvoted before delivery)"),
        *upsets(station, injections, weights_chunk),
        Row("raw bytes processed on board", raw, f"{raw:,}", "image bytes the cluster read"),
        Row("product bytes downlinked", {"bytes": product_bytes, "ratio": round(raw / max(product_bytes, 1))},
            f"{product_bytes:,}  (ratio 1:{raw / max(product_bytes, 1):,.0f})",
            "what came down instead: the on-board processing's saving"),
    ]


def downlink_rows(station: GroundStation, t: Tally, exit_code: int) -> list[Row]:
    """The rows of the link, the commands, the TM store, the drops, the cluster's votes and the archive."""
    latest, stats = station.latest, station.stats
    mode = station.dictionary.channel_by_name["cluster.Mode"].label(latest("cluster.Mode", 0))
    votes, disagreements = latest("cluster.Votes", 0), latest("cluster.Disagreements", 0)
    return [
        Row("all TM downlinked", {"packets": stats.packets, "bytes": stats.bytes},
            f"{stats.packets:,} packets, {stats.bytes:,} bytes", "every telemetry packet the ground decoded"),
        *link_rows(station),
        Row("commands sent / completed / failed", {"sent": len(station.command_log), "completed": t.completed,
                                                   "failed": t.failed},
            f"{len(station.command_log):,} / {t.completed:,} / {t.failed:,}",
            "1 failure expected: the command the flight must refuse"),
        Row("TM store: stored / acknowledged", {"stored": latest("comms.TmPacketsStored", 0),
                                                "acknowledged": latest("comms.TmAcknowledged", 0),
                                                "resent": latest("comms.TmPacketsResent", 0),
                                                "received_twice": stats.duplicates},
            f"{latest('comms.TmPacketsStored', 0):,} / {latest('comms.TmAcknowledged', 0):,}  (sent again "
            f"{latest('comms.TmPacketsResent', 0):,}, received twice {stats.duplicates:,}, kept once)",
            "the flight keeps each packet until the ground acknowledges it; stored minus acknowledged: still "
            "waiting for an acknowledgement at the flight's last report"),
        Row("TM packets dropped", {"refused": latest("comms.TmDroppedStoreFull", 0),
                                   "evicted": latest("comms.TmEvicted", 0), "missing": stats.sequence_gaps,
                                   "undecodable": stats.decode_errors},
            f"{latest('comms.TmDroppedStoreFull', 0):,} refused and {latest('comms.TmEvicted', 0):,} evicted by "
            f"the flight's store, {stats.sequence_gaps:,} missing, {stats.decode_errors:,} undecodable",
            "must all be 0"),
        Row("frames dropped by reason", dict(t.drops), ", ".join(f"{k} {v:,}" for k, v in t.drops.items()),
            "frames the cluster dropped, by reason: must all be 0"),
        Row("frames without a product", t.missing, f"{t.missing:,}", "must be 0"),
        Row("cluster mode / votes / disagreements", {"mode": mode, "votes": votes, "disagreements": disagreements},
            f"{mode} / {votes:,} / {disagreements:,}", "votes: frames voted over the cards' results; a "
            "disagreement: a card outvoted (counted in its errors)"),
        slips(station, sum(t.drops.values())),
        Row("limit excursions", dict(stats.limit_violations), limit_text(stats.limit_violations),
            "channels that left their limits, and how many times"),
        Row("archive rows archived / lost", {"archived": station.archive.committed, "lost": station.archive.lost,
                                             "error": station.archive.error},
            f"{station.archive.committed:,} / {station.archive.lost:,}  ({station.archive.error or 'no error'})",
            "every packet and frame up and down, in the SQLite archive"),
        Row("flight exit status", exit_code, f"{exit_code}", "0: the flight shut down cleanly on command"),
    ]


def cards(station: GroundStation, imaging_time: float) -> Any:
    names = [name[len("cluster."):-len("_Inferences")] for name in station.dictionary.channel_by_name
             if name.startswith("cluster.") and name.endswith("_Inferences")]
    return card_table({card: {channel: station.latest(f"cluster.{card}_{channel}", 0)
                              for channel in ("Inferences", "LatencyP50", "LatencyP99", "BusyTime", "Resets",
                                              "Errors", "Temperature")} for card in names}, imaging_time)


def dictionary_check(flight_digest: int | None, ground_digest: int) -> Check:
    if flight_digest is None:
        return Check("dictionary matches", False, f"the flight's digest never came (ground {ground_digest:08x})")
    return Check("dictionary matches", flight_digest == ground_digest,
                 f"flight {flight_digest:08x}, ground {ground_digest:08x}")


def checks_of(station: GroundStation, t: Tally, exit_code: int) -> list[Check]:
    latest, stats = station.latest, station.stats
    return [
        dictionary_check(station.latest("executive.DictionaryDigest"), station.dictionary.digest),
        Check("all products", len(station.products) == t.frames and t.missing == 0,
              f"{len(station.products)}/{t.frames}"),
        Check("zero drops", latest("comms.TmDroppedStoreFull", 0) + latest("comms.TmEvicted", 0)
              + stats.sequence_gaps + stats.decode_errors
              + sum(t.drops.values()) + station.downlink.stats.gaps + sum(station.downlink.stats.bad_frames.values())
              == 0, "packets, TM frames and imaged frames"),
        Check("no wrong product", t.wrong == 0 and t.score.precision == 1.0 and t.score.recall == 1.0
              and t.score.class_accuracy == 1.0, "precision, recall, class accuracy all 1.0"),
        Check("every upset repaired or recovered", latest("scrubber.Detected", 0)
              == latest("scrubber.Repaired", 0) + latest("scrubber.Uncorrectable", 0)
              and latest("scrubber.Uncorrectable", 0) == latest("scrubber.Recoveries", 0),
              "detected = repaired + uncorrectable, each uncorrectable recovered"),
        Check("commands verified", t.completed + t.failed == len(station.command_log) and t.failed == 1,
              f"{t.completed} completed, {t.failed} failed"),
        Check("clean shutdown", exit_code == 0, f"exit {exit_code}"),
        archive_check(station),
    ]


def archive_check(station: GroundStation) -> Check:
    """Every packet and frame sent and received is in the archive, and it never failed nor lost a row."""
    archive = station.archive
    expected = (len(station.command_log) + station.stats.link_commands + station.stats.packets
                + station.uplink.stats.frames + station.downlink.stats.frames + len(station.passes))
    return Check("archive complete", archive.error is None and archive.lost == 0 and archive.committed == expected,
                 archive.alarm or f"{archive.committed:,} of {expected:,} packets and frames archived")


def link_rows(station: GroundStation) -> list[Row]:
    """The link's part of the summary: its security first, loudly when there is none."""
    link, latest = station.dictionary.link_parameters, station.latest
    up, down = station.uplink.stats, station.downlink.stats
    if link.authenticated:
        security = (f"TC: SDLS AES-256-GCM {link.sdls_service.replace('_', ' ')}, SPI {link.spi}, key "
                    f"{latest('link.SaKeyId', '?')} of a fresh key file")
    else:
        security = "TC NOT AUTHENTICATED (mission.link.sdls = off): any process that reaches the TC port commands it"
    if link.tm_authenticated:
        verified = "verified" if station.downlink.verified else "NOT VERIFIED: this ground has no key file"
        security += f"; TM: SDLS {link.tm_sdls.replace('_', ' ')}, SPI {link.tm_spi}, {verified}"
    else:
        security += "; TM not authenticated (mission.link.tm_sdls = off)"
    refused = sum(latest(f"link.Refused{r}", 0) for r in ("Frame", "Sa", "Replay", "Window", "Mac", "State"))
    channels = {name: {"frames": c.frames, "gaps": c.gaps} for name, c in down.channels.items()}
    bad = sum(down.bad_frames.values())
    return [
        Row("link security", security, security, "how the link's frames are protected"),
        Row("TC frames sent / retransmitted", {"sent": up.frames, "retransmitted": up.retransmissions,
                                               "alerts": up.alerts, "refused": refused,
                                               "farm_discarded": latest("link.FarmDiscarded", 0)},
            f"{up.frames:,} / {up.retransmissions:,}  (COP-1 alerts {up.alerts:,}; flight refused {refused:,}, "
            f"FARM discarded {latest('link.FarmDiscarded', 0):,})",
            "telecommand frames; COP-1 retransmits what the flight's FARM did not accept"),
        Row("TM frames received by channel", {"channels": channels, "bad": bad, "master_gaps": down.master_gaps},
            ", ".join(f"{name} {c['frames']:,} (gaps {c['gaps']:,})" for name, c in channels.items())
            + f"; bad {bad:,}, master-channel gaps {down.master_gaps:,}", "telemetry frames by virtual channel; "
            "a gap is a frame missing from a channel's count"),
    ]


def build_summary(station: GroundStation, t: Tally, exit_code: int, elapsed: float, imaging_time: float,
                  run_dir: Path, weights_chunk: int) -> Summary:
    rows = summary_rows(station, t, exit_code, elapsed, imaging_time, read_injections(run_dir / "injections.jsonl"),
                        weights_chunk)
    return Summary("SIL summary", rows, checks_of(station, t, exit_code),
                   [cards(station, imaging_time)])
