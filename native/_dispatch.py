"""Python view of the C dispatch table: which implementation each function uses.

The extension compiles several implementations of each function (index 0
is always the portable C path; the others need CPU features, grouped in
tiers, see ``docs/native.md``).  This module lists them, selects one per
function, and offers the context managers tests and benchmarks use to
switch paths inside one process.

Requirements (verified in ``tests/unit/native/test_tiers.py``):
- :func:`supported` lists only implementations whose tier the CPU has, the
  portable one first; :func:`select` refuses unknown or unsupported names
  and changes nothing then;
- :func:`use_tier` limits every function to the flag-chosen path of a tier
  and :func:`use_impls` pins named paths; both restore the previous
  selection on exit.
Switching is not synchronised with calls running in other threads.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Mapping

from native._native import ffi, lib

FUNCTIONS = ("crc16_ccitt_false", "crc32c", "crc32", "vote3")  # order of OFS_FN_* in ofs_native.h

lib.ofs_init()


@dataclass(frozen=True)
class Impl:
    """One compiled implementation of a function: its index in the C list, name and tier."""

    function: str
    index: int
    name: str
    tier: int


def max_tier() -> int:
    """Best dispatch tier this CPU supports (0 = portable C only)."""
    return int(lib.ofs_max_tier())


def impls(function: str) -> list[Impl]:
    """Every implementation of ``function`` compiled in, portable first."""
    func = FUNCTIONS.index(function)
    tier = ffi.new("int *")
    found = []
    for index in range(lib.ofs_impl_count(func)):
        name = ffi.string(lib.ofs_impl_info(func, index, tier)).decode()
        found.append(Impl(function, index, name, int(tier[0])))
    return found


def supported(function: str) -> list[Impl]:
    """The implementations of ``function`` this CPU can run, portable first."""
    return [impl for impl in impls(function) if impl.tier <= max_tier()]


def implementation() -> dict[str, str]:
    """Name of the implementation each public function currently uses."""
    return {name: ffi.string(lib.ofs_impl_name(i)).decode() for i, name in enumerate(FUNCTIONS)}


def select(choice: Mapping[str, str]) -> None:
    """Make each function in ``choice`` use the implementation of that name.

    Raises ``ValueError`` (selecting nothing) for an unknown function, or a
    name that is not a supported implementation of it.
    """
    picked = []
    for function, name in choice.items():
        if function not in FUNCTIONS:
            raise ValueError(f"unknown function {function!r}; expected one of {FUNCTIONS}")
        matches = [impl for impl in supported(function) if impl.name == name]
        if not matches:
            names = [impl.name for impl in supported(function)]
            raise ValueError(f"{function}: {name!r} is not an implementation this CPU supports ({names})")
        picked.append(matches[0])
    for impl in picked:  # supported() applied the C side's own test, so none is refused
        lib.ofs_select_impl(FUNCTIONS.index(impl.function), impl.index)


@contextmanager
def use_impls(choice: Mapping[str, str]) -> Iterator[None]:
    """Run the body with the named implementations (see :func:`select`)."""
    previous = implementation()
    select(choice)
    try:
        yield
    finally:
        select(previous)


@contextmanager
def use_tier(tier: int) -> Iterator[None]:
    """Run the body with every function on the path the C side picks for ``tier``.

    That is the last-listed implementation whose tier is at most
    ``min(tier, max_tier())``: tier 0 is the portable path everywhere.
    """
    previous = implementation()
    lib.ofs_set_tier(min(tier, max_tier()))
    try:
        yield
    finally:
        select(previous)
