"""Declared settings: what a component may be configured with in the topology, checked at load.

A component class declares its settings the way it declares its parameters::

    SETTINGS = {"frame_divider": Setting(int, 1, low=1, description="one frame every N ticks")}

:func:`check_settings` checks a component's ``[[components]]`` table against them before anything
is built: an unknown key (with the closest declared names), a value of the wrong type, out of its
range or not among its choices is refused with one line naming ``section.key``, the value and what
is allowed. Tables (``Setting(dict, fields=...)``) and lists of tables (``Setting(list,
item=Setting(dict, ...))``) are checked field by field. Missing settings take their defaults, so
a component reads ``self.config[key]`` and gets a checked value. A ``check`` function adds what a
type and a range cannot say (e.g. a ZeroMQ endpoint, a tile size that the grid divides); it
returns the reason a value is wrong, or None.

Requirements (verified in tests/unit/core/test_settings.py): every refusal names the key, the
value and what is allowed, on one line; a valid table comes back with every default filled in;
nested tables and lists are checked to the leaf.
"""
from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

NUMBER_TYPES = {int: "an integer", float: "a number", bool: "true or false", str: "a string",
                list: "a list", dict: "a table"}


class SettingError(ValueError):
    """A setting that cannot fly, with the reason on one line."""


@dataclass(frozen=True)
class Setting:
    type: type
    default: Any = None
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] | None = None
    description: str = ""
    fields: Mapping[str, "Setting"] | None = None   # a table's own settings
    item: "Setting | None" = None                     # what each element of a list is
    check: Callable[[Any], str | None] | None = None  # the reason a value is wrong, or None
    required: bool = False
    open: bool = field(default=False)                 # a table whose keys are not declared

    def allowed(self) -> str:
        """What this setting accepts, in words."""
        parts = [NUMBER_TYPES.get(self.type, self.type.__name__)]
        if self.choices is not None:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        if self.low is not None and self.high is not None:
            parts.append(f"from {_number(self.low)} to {_number(self.high)}")
        elif self.low is not None:
            parts.append(f">= {_number(self.low)}")
        elif self.high is not None:
            parts.append(f"<= {_number(self.high)}")
        return " ".join(parts)


def _number(x: float) -> str:
    """A bound as people read it: 100,000 rather than 1e+05; 0.001 as it is."""
    return f"{int(x):,}" if float(x).is_integer() and abs(x) < 1e16 else f"{x:g}"


def check_settings(section: str, config: Mapping[str, Any],
                   settings: Mapping[str, Setting]) -> dict[str, Any]:
    """``config`` checked against ``settings``, defaults filled in (SettingError otherwise)."""
    for key in config:
        if key not in settings:
            close = difflib.get_close_matches(key, list(settings), n=3, cutoff=0.6)
            hint = f" (did you mean {' or '.join(close)}?)" if close else ""
            known = ", ".join(settings) or "none"
            raise SettingError(f"{section}.{key}: no such setting{hint}; settings: {known}")
    checked = {}
    for key, setting in settings.items():
        if key in config:
            checked[key] = check_value(f"{section}.{key}", config[key], setting)
        elif setting.required:
            raise SettingError(f"{section}.{key} is required: {setting.description or setting.allowed()}")
        elif setting.fields is not None and not setting.open and setting.default is not None:
            checked[key] = check_value(f"{section}.{key}", setting.default, setting)  # its defaults
        else:
            checked[key] = setting.default
    return checked


def check_value(name: str, value: Any, setting: Setting) -> Any:
    """One value checked against its setting (SettingError naming ``name`` otherwise)."""
    value = _typed(name, value, setting)
    if setting.choices is not None and value not in setting.choices:
        raise SettingError(f"{name} = {value!r}: {setting.allowed()}")
    if setting.type in (int, float) and (
            (setting.low is not None and value < setting.low)
            or (setting.high is not None and value > setting.high)):
        raise SettingError(f"{name} = {value!r}: must be {setting.allowed()}")
    if setting.fields is not None and not setting.open:
        value = check_settings(name, value, setting.fields)
    if setting.item is not None:
        value = [check_value(f"{name}[{i}]", element, setting.item) for i, element in enumerate(value)]
    if setting.check is not None:
        reason = setting.check(value)
        if reason:
            shown = "" if setting.fields is not None else f" = {value!r}"  # a table's reason names its keys
            raise SettingError(f"{name}{shown}: {reason}")
    return value


def _typed(name: str, value: Any, setting: Setting) -> Any:
    wanted = setting.type
    if wanted is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if wanted is float and isinstance(value, float) and not math.isfinite(value):
        raise SettingError(f"{name} = {value!r}: must be a finite number")
    if wanted is int and isinstance(value, bool) or not isinstance(value, wanted):
        raise SettingError(f"{name} = {value!r}: expected {NUMBER_TYPES.get(wanted, wanted.__name__)}")
    return value


def reference(section: str, settings: Mapping[str, Setting]) -> list[str]:
    """The settings as reference lines: ``section.key  type/range  default  description``."""
    lines = []
    for key, setting in settings.items():
        default = "(required)" if setting.required else repr(setting.default)
        lines.append(f"{section}.{key} | {setting.allowed()} | {default} | {setting.description}")
        if setting.fields is not None and not setting.open:
            lines += reference(f"{section}.{key}", setting.fields)
        if setting.item is not None and setting.item.fields is not None:
            lines += reference(f"{section}.{key}[]", setting.item.fields)
    return lines
