"""A campaign file: what is tested, with which faults, how many trials, from which seed.

TOML, every key checked (an unknown key, a wrong type or a value out of range is refused with one
line naming it and what is allowed; the command exits 2)::

    [campaign]
    name = "weights-single-bit"
    seed = 1                 # the master seed: trial i's seed depends on (seed, i) alone
    trials = 16590           # or: margin = 0.01 and confidence = 0.99 (Leveugle et al. 2009)

    [target]
    kind = "weights"            # weights: upsets in the weights, in process (campaign.weights_trial);
                                # cards: hang, crash, wrong, slow, latchup, sefi, tid cards of the real
                                # cluster (campaign.card_trial);
                                # regions: upsets in any protected region and copy (weights, TMR parameters)
                                # on the real cluster (campaign.region_trial);
                                # slots: upsets in the frame slots (input tiles), in process (campaign.slot_trial);
                                # store: upsets in the TM store's database file, in process (campaign.store_trial)
                                # (slots and store take no copies, scrub_every or guarded, and store no model,
                                # frames, chunk, protection or mode: written, they are refused as meaningless)
    model = "demo_model.onnx"   # relative to the file; "" = the demo model, built in the output folder
    frames = 4                  # inputs per trial (scene tiles from inputs_seed)
    inputs_seed = 7
    chunk = 64                  # CRC chunk of the weights regions (the topology's weights_chunk)

    [faults]
    kinds = ["single"]          # single, multi (2-4 adjacent bits), byte
    copies = ["live", "golden"] # the weights' copies upset (regions: the TMR copies are always all three)

    [[configurations]]          # each runs the same trials (the same planned upsets)
    name = "off"
    protection = "off"          # off: THROUGHPUT, no scrubbing; on: TMR + a scrub pass every frame
    # mode = "THROUGHPUT"       # or TMR: overrides the protection's cluster mode
    # scrub_every = 1           # frames between scrub passes, 0 never: overrides the protection's
    # guarded = ["auto"]        # tensors checked before every read (TMR memory); "auto": those that
                                # gave 90 % of the unprotected configuration's SDC

    [criteria]                  # pass/fail, for JUnit, per configuration: the highest SDC rate allowed,
    max_sdc = { on = 0.0 }      # the most frames lost (max_lost_frames = { on = 0 }) and boards burned
                                # by a latch-up (max_burned = { on = 0 })

| requirement | verified by |
|---|---|
| a valid file gives its campaign; the trial count from margin and confidence is Leveugle's |   |
|   | tests/unit/campaign/test_spec.py |
| any bad key or value is refused with one line naming it | tests/unit/campaign/test_spec.py |
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from campaign.stats import leveugle_sample_size

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib
from flight.core.settings import Setting, SettingError, check_settings

PROTECTIONS = ("off", "on")
MODES = ("THROUGHPUT", "TMR")
PRESETS = {"on": ("TMR", 1), "off": ("THROUGHPUT", 0)}
KIND_NAMES = ("single", "multi", "byte")
CARD_FAULT_NAMES = ("hang", "crash", "wrong", "slow", "latchup", "sefi", "tid")
TARGET_KINDS = ("weights", "cards", "regions", "slots", "store")
UPSET_TARGETS = ("weights", "regions", "slots", "store")   # the target kinds whose faults are upsets (KIND_NAMES)
UNUSED = {  # keys a target kind has no use for, refused when written (why)
    "slots": ({"target": ("chunk",), "faults": ("copies",), "configurations": ("scrub_every", "guarded")},
              "one slot per frame, unprotected: nothing to scrub or guard, no copies; TMR or THROUGHPUT"),
    "store": ({"target": ("model", "frames", "chunk"), "faults": ("copies",),
               "configurations": ("protection", "mode", "scrub_every", "guarded")},
              "one database file, its CRCs and checks always on: a configuration is a name"),
}
COPY_NAMES = ("live", "golden")


def _subset(allowed: tuple[str, ...]):
    def reason(values: list[Any]) -> str | None:
        if not values or any(v not in allowed for v in values) or len(set(values)) != len(values):
            return f"must be a non-empty list of distinct names from {list(allowed)}"
        return None
    return reason


CAMPAIGN = {
    "name": Setting(str, "campaign", description="the campaign's name, in its reports"),
    "seed": Setting(int, 1, 0, 2**63 - 1, description="master seed"),
    "trials": Setting(int, 0, 0, 10_000_000, description="trials per configuration; 0: from margin and confidence"),
    "margin": Setting(float, 0.01, 1e-6, 0.5, description="margin of error for the sample size"),
    "confidence": Setting(float, 0.99, 0.5, 0.999999, description="confidence for the sample size"),
}
TARGET = {
    "kind": Setting(str, "weights", choices=TARGET_KINDS, description="weights: upsets in the model's weights, "
                                                                       "in process; cards: card faults, real cluster; "
                                                                       "regions: upsets in any protected region, "
                                                                       "real cluster; slots: upsets in the frame "
                                                                       "slots, in process; store: upsets in the TM "
                                                                       "store's file, in process"),
    "model": Setting(str, "", description="ONNX model; empty: the demo model"),
    "frames": Setting(int, 4, 1, 10_000, description="inputs per trial"),
    "inputs_seed": Setting(int, 7, 0, 2**63 - 1, description="seed of the input scenes"),
    "chunk": Setting(int, 64, 4, 1 << 20, description="CRC chunk of the weights regions, bytes"),
}
FAULTS = {
    "kinds": Setting(list, [], check=lambda v: None if not v else _subset(KIND_NAMES + CARD_FAULT_NAMES)(v),
                     description="weights, regions, slots, store: single, multi, byte (default single); cards: "
                                 "hang, crash, wrong, slow, latchup, sefi, tid (default all)"),
    "copies": Setting(list, list(COPY_NAMES), check=_subset(COPY_NAMES),
                      description="the weights' copies upset (regions: the TMR copies are always all three)"),
}
CONFIGURATION = {
    "name": Setting(str, None, required=True, description="the configuration's name"),
    "protection": Setting(str, "on", choices=PROTECTIONS, description="off: THROUGHPUT, no scrubbing; on: TMR and "
                                                                      "a scrub pass after every frame"),
    "mode": Setting(str, "", choices=("", *MODES), description="overrides the protection's cluster mode"),
    "scrub_every": Setting(int, -1, -1, 1_000_000, description="frames between scrub passes (0: never); -1: "
                                                               "the protection's"),
    "guarded": Setting(list, [], check=lambda v: None if all(isinstance(x, str) and x for x in v) else
                       "must be a list of weight tensor names, or [\"auto\"]",
                       description="tensors checked before every read (TMR memory); [\"auto\"]: those the "
                                   "unprotected configuration found most fragile"),
}


class CampaignError(ValueError):
    """A campaign file that cannot be run (one line)."""


@dataclass
class Campaign:
    name: str
    seed: int
    trials: int
    target: dict[str, Any]
    faults: dict[str, Any]
    configurations: list[dict[str, Any]]
    criteria: dict[str, dict[str, float]] = field(default_factory=dict)   # max_sdc, max_lost_frames, max_burned

    def trial_config(self, configuration: dict[str, Any], model: Path) -> dict[str, Any]:
        """What a trial function needs (plain, picklable, JSON-able)."""
        return {"kind": self.target["kind"], "model": str(model), "frames": self.target["frames"],
                "chunk": self.target["chunk"],
                "inputs_seed": self.target["inputs_seed"], "seed": self.seed,
                "mode": configuration["mode"], "scrub_every": configuration["scrub_every"],
                "guarded": configuration["guarded"],
                "kinds": self.faults["kinds"],
                "copies": self.faults["copies"]}


def load_campaign(path: Path, fault_space_bits: int | None = None) -> Campaign:
    """The campaign in ``path``; CampaignError (one line) if it cannot be run."""
    try:
        doc = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise CampaignError(f"{path}: {error}") from None
    unknown = set(doc) - {"campaign", "target", "faults", "configurations", "criteria"}
    if unknown:
        raise CampaignError(f"{path}: unknown table {sorted(unknown)[0]!r}; tables: campaign, target, faults, "
                            "configurations, criteria")
    try:
        head = check_settings("campaign", doc.get("campaign", {}), CAMPAIGN)
        target = check_settings("target", doc.get("target", {}), TARGET)
        faults = check_settings("faults", doc.get("faults", {}), FAULTS)
        configurations = [check_settings(f"configurations[{i}]", c, CONFIGURATION)
                          for i, c in enumerate(doc.get("configurations", []))]
    except SettingError as error:
        raise CampaignError(f"{path}: {error}") from None
    allowed = KIND_NAMES if target["kind"] in UPSET_TARGETS else CARD_FAULT_NAMES
    faults["kinds"] = faults["kinds"] or (["single"] if target["kind"] in UPSET_TARGETS else list(CARD_FAULT_NAMES))
    if not set(faults["kinds"]) <= set(allowed):
        raise CampaignError(f"{path}: faults.kinds = {faults['kinds']}: a {target['kind']} campaign takes "
                            f"{list(allowed)}")
    _refuse_unused(path, target["kind"], doc)
    return Campaign(head["name"], head["seed"], _trials(path, head, fault_space_bits), target, faults,
                    _fit(target["kind"], faults, _configurations(path, configurations)),
                    _criteria(path, doc.get("criteria", {}), configurations))


def _refuse_unused(path: Path, kind: str, doc: dict[str, Any]) -> None:
    tables, why = UNUSED.get(kind, ({}, ""))
    for table, keys in tables.items():
        entries = doc.get(table, []) if table == "configurations" else [doc.get(table, {})]
        for i, entry in enumerate(entries):
            written = sorted(set(entry) & set(keys))
            if written:
                where = f"configurations[{i}]" if table == "configurations" else table
                raise CampaignError(f"{path}: {where}.{written[0]}: a {kind} campaign has no use for it ({why})")


def _fit(kind: str, faults: dict[str, Any], configurations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Slots and store configurations as they run: no copies, no scrubbing; slots protected by TMR
    alone; the store's protection always on (its mode is no cluster's)."""
    if kind in UNUSED:
        faults["copies"] = []
        for c in configurations:
            c["scrub_every"] = 0
            c["protection"] = "off" if kind == "slots" and c["mode"] == "THROUGHPUT" else "on"
            c["mode"] = c["mode"] if kind == "slots" else ""
    return configurations


def _trials(path: Path, head: dict[str, Any], fault_space_bits: int | None) -> int:
    if head["trials"]:
        return head["trials"]
    return leveugle_sample_size(fault_space_bits, head["margin"], head["confidence"])


def _configurations(path: Path, configurations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    names = [c["name"] for c in configurations]
    if not configurations:
        raise CampaignError(f"{path}: no [[configurations]]: name at least one (protection off or on)")
    if len(set(names)) != len(names) or any(not n or "/" in n for n in names):
        raise CampaignError(f"{path}: configuration names must be distinct, non-empty, without '/': {names}")
    for c in configurations:
        mode, scrub_every = PRESETS[c["protection"]]
        c["mode"] = c["mode"] or mode
        c["scrub_every"] = scrub_every if c["scrub_every"] < 0 else c["scrub_every"]
        c["protection"] = ("off" if (c["mode"], c["scrub_every"]) == PRESETS["off"] and not c["guarded"] else
                           "on" if c["mode"] == "TMR" and c["scrub_every"] else "partial")
    offs = [i for i, c in enumerate(configurations) if c["protection"] == "off"]
    for i, c in enumerate(configurations):
        if c["guarded"] == ["auto"] and not (offs and offs[0] < i):
            raise CampaignError(f"{path}: configurations[{i}].guarded = [\"auto\"] needs an unprotected "
                                "configuration before it (its SDC map chooses the tensors)")
    return configurations


def _criteria(path: Path, criteria: dict[str, Any], configurations: list[dict[str, Any]]) -> dict[str, float]:
    names = {c["name"] for c in configurations}
    unknown = set(criteria) - {"max_sdc", "max_lost_frames", "max_burned"}
    if unknown or not all(isinstance(v, dict) for v in criteria.values()):
        raise CampaignError(f"{path}: [criteria] takes max_sdc = {{CONFIGURATION = RATE, ...}}, max_lost_frames "
                            "= {CONFIGURATION = COUNT, ...} and max_burned = {CONFIGURATION = COUNT, ...}")
    for key, limits in criteria.items():
        for name, value in limits.items():
            too_big = key == "max_sdc" and isinstance(value, (int, float)) and value > 1
            if name not in names or not isinstance(value, (int, float)) or value < 0 or too_big:
                raise CampaignError(f"{path}: criteria.{key}.{name} = {value!r}: needs a configuration name and "
                                    f"{'a rate from 0 to 1' if key == 'max_sdc' else 'a count of 0 or more'} "
                                    f"(configurations: {sorted(names)})")
    return {key: {name: float(v) for name, v in limits.items()} for key, limits in criteria.items()}
