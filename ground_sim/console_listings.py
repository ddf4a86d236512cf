"""The console's listings: of the dictionary (``channels``, ``eventdefs``, ``params``, each with
types, units, limits and enumerations), of the events received (``events``) and of the payload's
products (``products``, ``product FRAME`` with its fire-cell map).

| requirement | verified by |
|---|---|
| each listing filters by substring and shows types, units, limits, enumerations |   |
|   | tests/unit/ground/test_console_view.py |
| products list the latest; one product shows every field and its fire-cell map |   |
|   | tests/unit/ground/test_console_view.py |
"""
from __future__ import annotations

import shlex

from flight.core.types import Enumeration, Field, Limits
from flight.messages import Product
from flight.payload.scene import TileClass
from ground_sim.console_verbs import ConsoleVerbs
from ground_sim.console_view import format_event


def describe_enumeration(enumeration: Enumeration) -> str:
    return ("{" + ", ".join(f"{number} {name}" for number, name in enumeration) + "}") if enumeration else ""


def describe_limits(limits: Limits | None) -> str:
    if limits is None:
        return ""
    bounds = [f"{label} {_number(value)}" for label, value in (
        ("red<", limits.red_low), ("yellow<", limits.yellow_low), ("yellow>", limits.yellow_high),
        ("red>", limits.red_high)) if value is not None]
    return "limits " + " ".join(bounds)


def _number(value: float | None) -> str:
    return "" if value is None else str(int(value)) if float(value).is_integer() else f"{value:g}"


def describe_field(field: Field) -> str:
    """``name: TYPE [low..high] {enumeration}``: a field as the completion and the listings show it."""
    text = f"{field.name}: {field.type.name}"
    if field.low is not None or field.high is not None:
        text += f" [{_number(field.low)}..{_number(field.high)}]"
    return " ".join(filter(None, (text, describe_enumeration(field.enumeration))))


def class_name(tile_class: int) -> str:
    return TileClass(tile_class).name if tile_class in TileClass._value2member_map_ else str(tile_class)


def product_line(product: Product) -> str:
    return (f"  frame {product.frame_id:>6}  {class_name(product.tile_class):<7} confidence {product.confidence:.2f}  "
            f"fire cells {int(product.fire_cells.sum()):>3}  cloud {product.cloud_fraction:.2f}")


def product_details(product: Product) -> list[str]:
    """Every field of ``product``, then its fire-cell map (``#`` fire, ``.`` none) when it has fire cells."""
    card = "voted" if product.card == 0xFF else f"card {product.card}"
    lines = [product_line(product), f"  latency {product.latency_us} us, {card}"]
    if product.fire_cells.any():
        return lines + ["  " + "".join("#" if cell else "." for cell in row) for row in product.fire_cells]
    return lines + ["  no fire cells"]


class ListingCommands(ConsoleVerbs):
    """For the console (ground_sim.console.Console): dictionary, event and product listings."""

    colour: bool

    def do_channels(self, line: str) -> None:
        """channels [SUBSTRING]: telemetry channels with type, units, limits, enumeration."""
        for c in self.api.station.dictionary.channels:
            if line.strip() in c.name:
                details = " ".join(filter(None, (c.units and f"[{c.units}]", describe_limits(c.limits),
                                                 describe_enumeration(c.enumeration))))
                print(f"  {c.name:<40} {c.type.name:<6} {details}  {c.description}".rstrip())

    def do_eventdefs(self, line: str) -> None:
        """eventdefs [SUBSTRING]: events with severity and arguments."""
        for e in self.api.station.dictionary.events:
            if line.strip() in e.name:
                print(f"  {e.name:<40} {e.severity.name:<10} ({', '.join(map(describe_field, e.args))})  {e.format}")

    def do_params(self, line: str) -> None:
        """params [SUBSTRING]: parameters with type, range, enumeration and default."""
        for p in self.api.station.dictionary.parameters:
            if line.strip() in p.name:
                print(f"  {p.name:<40} {describe_field(p.field)}  default {p.default}  {p.description}".rstrip())

    def do_events(self, line: str) -> None:
        """events [N] [NAME-SUBSTRING]: the last N events (default 20) whose name contains the substring."""
        words = shlex.split(line)
        count = int(words.pop(0)) if words and words[0].isdigit() else 20
        if len(words) > 1:
            self.usage("events [N] [NAME-SUBSTRING]")
            return
        with self.api.station.changed:
            events = [e for e in self.api.station.events if not words or words[0] in e.name][-count:]
        for event in events:
            print(f"  {format_event(event, self.colour)}")

    def do_products(self, line: str) -> None:
        """products [N]: the last N products received (default 10)."""
        if line.strip() and not line.strip().isdigit():
            self.usage("products [N]")
            return
        with self.api.station.changed:
            products = list(self.api.station.products)
        for product in products[max(len(products) - int(line or 10), 0):]:
            print(product_line(product))
        print(f"  {len(products)} products received")

    def do_product(self, line: str) -> None:
        """product FRAME: one product (the latest of that frame id): every field and its fire-cell map."""
        try:
            frame = int(line)
        except ValueError:
            self.usage("product FRAME")
            return
        with self.api.station.changed:
            found = [p for p in self.api.station.products if p.frame_id == frame]
        if not found:
            self.refuse(f"no product of frame {frame} received (try: products)")
            return
        print("\n".join(product_details(found[-1])))
