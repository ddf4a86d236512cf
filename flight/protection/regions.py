"""Protected memory regions: what the scrubber walks and the SEU injector hits.

Three kinds of region share one interface (:class:`Region`):

- :class:`TmrRegion` (``"tmr"``): critical state kept three times and voted bitwise. Each chunk
  also has a reference CRC-32C of its intended value (set by :meth:`TmrRegion.write`), because two
  copies hit at the same bit outvote the good one and the vote alone cannot see it.
- :class:`LiveGoldenRegion` (``"live"``): large read-mostly data (model weights) that computation
  reads in place, plus a golden copy; chunk CRCs against a reference say which one to repair.
- :class:`MonitoredRegion` (``"monitored"``): CRC check only, reported and never written.

Every reference table of chunk CRCs is stored three times and voted (bitwise, repairing a minority
copy in the same native call) each time it is used; a repair of the table is not a finding, since
it is not region bytes and no target of :meth:`Region.flip` reaches it.

Scrubbing works by chunks in all three kinds: ``scrub(offset, length)`` rounds the range out to
whole chunks (``chunk_size`` bytes each, the last one possibly short) and ``scanned`` is the
number of bytes of those chunks, so a scrubber that walks chunk-aligned ranges scans every byte
once per pass. A chunk shared by two consecutive unaligned ranges is checked twice: a repaired
chunk is found only once, but an uncorrectable one (left as it is) is reported each time it is
checked. Findings come in offset order, one per chunk and wrong copy. The clean path is a few
native calls per range (for TMR, per block of up to 4 MiB, the size of a scratch buffer), never
one per chunk; only chunks that differ get Python-level attention. Each region has a lock held by
``scrub``, ``flip`` and every method that reads or writes its bytes.

Verified by ``tests/unit/protection/test_regions.py`` (test names below; (h): a hypothesis property):

| requirement | verified by |
| --- | --- |
| TMR: one bad copy (any bytes, any bits) is voted away by ``read()`` and repaired | tmr_one_bad_copy_is_repaired (h) |
| bit-exactly by a full scrub, naming the copy, its first differing byte and bits | |
| TMR: two copies hit at one bit: uncorrectable, copies left as they are | tmr_double_hit_is_uncorrectable (h) |
| TMR: ``write`` updates copies and reference; a latent double hit in the unwritten | tmr_writes_then_scrub_clean (h), |
| part of a chunk stays detectable; rewriting the whole chunk cures it | tmr_partial_write_keeps_double_hit_detectable |
| TMR: constructed from a size, the region is zeroed and clean | tmr_size_constructor_is_zeroed |
| an upset in one copy of a reference CRC table is voted away | reference_crc_upset_is_voted_away |
| live: a single-bit upset (live or golden) is repaired bit-exactly by the | live_single_bit_upset_is_repaired (h), |
| next full scrub, in place in the caller's array (any dtype, shared mem.) | live_float32_array_is_repaired_in_place, |
| | live_over_shared_memory, live_with_given_golden |
| live: both bad in a chunk: uncorrectable, nothing written; ``reload`` fixes | live_both_copies_bad_is_uncorrectable |
| monitored: reported once per change, never written; ``rebaseline`` | monitored_reports_once_per_change (h), |
| | monitored_rebaseline |
| consecutive partial scrubs find what one full scrub finds; ranges round out | partial_scrubs_equal_full_scrub (h), |
| | scrub_rounds_out_to_chunks |
| ``flip`` returns the true old and new byte and changes exactly one bit | flip_changes_exactly_one_bit (h) |
| bad arguments raise ``ValueError`` | bad_arguments, bad_construction_and_updates, |
| | live_needs_writable_separate_arrays |
| ``flip`` waits for a scrub in progress; concurrent flips and scrubs stay right | flip_waits_for_a_scrub_in_progress, |
| | concurrent_flips_and_scrubs |
| registry: registration order, duplicates refused, remove, ``total_bytes`` | registry |
"""

from __future__ import annotations

import operator
import threading
from dataclasses import dataclass
from typing import Callable, Protocol, runtime_checkable

import numpy as np

import native

from flight.messages import RegionChange

_BLOCK_BYTES = 4 << 20  # TMR votes a range in blocks of this size through one scratch buffer


@dataclass(frozen=True)
class Finding:
    """One thing a scrub found (see each region kind for ``offset``, ``bits`` and ``copy``)."""

    region: str
    offset: int
    bits: int
    repaired: bool
    uncorrectable: bool
    copy: str = ""


@dataclass
class ScrubResult:
    """``scanned``: bytes covered (the range rounded out to whole chunks); ``findings`` in offset order."""

    scanned: int
    findings: list[Finding]


@runtime_checkable
class Region(Protocol):
    """What the scrubber and the SEU injector work with."""

    name: str
    kind: str
    size: int
    recover: Callable[[], None] | None

    def scrub(self, offset: int, length: int) -> ScrubResult: ...

    def flip(self, offset: int, bit: int, target: str = "") -> tuple[int, int]: ...

    def targets(self) -> tuple[str, ...]: ...


def _popcount(x: np.ndarray) -> int:
    return int(np.unpackbits(x).sum())


def _first_nonzero(x: np.ndarray) -> int:
    """Index of the first nonzero element of ``x`` (0 if there is none)."""
    return int(np.argmax(x != 0))


def _byte_view(array: np.ndarray, name: str, writable: bool) -> np.ndarray:
    """Flat uint8 view over the bytes of a C-contiguous array (never a copy)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, not {type(array).__name__}")
    if not array.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous")
    if writable and not array.flags.writeable:
        raise ValueError(f"{name} must be writable")
    return array.reshape(-1).view(np.uint8)


class _ReferenceCrcs:
    """Per-chunk reference CRC-32C values kept three times; voted and repaired on every use."""

    def __init__(self, crcs: np.ndarray) -> None:
        self._copies = np.tile(crcs.astype(np.uint32), (3, 1))

    def voted(self, first: int, stop: int) -> np.ndarray:
        rows = self._copies[:, first:stop]
        return native.vote3(rows[0], rows[1], rows[2], repair=True).voted

    def store(self, first: int, crcs: np.ndarray) -> None:
        self._copies[:, first : first + len(crcs)] = crcs


class _RegionBase:
    """Name, size, chunking, lock, ``recover`` and the SEU injector's ``flip``."""

    kind: str

    def __init__(self, name: str, size: int, chunk_size: int, buffers: dict[str, np.ndarray]) -> None:
        if not name:
            raise ValueError("a region needs a name")
        if size <= 0:
            raise ValueError(f"region {name!r} is empty")
        self.chunk_size = operator.index(chunk_size)
        if self.chunk_size <= 0:
            raise ValueError(f"chunk_size must be positive, got {chunk_size}")
        self.name = name
        self.size = size
        self.recover: Callable[[], None] | None = None
        self._buffers = buffers  # flip targets, the default first
        self._lock = threading.Lock()

    def targets(self) -> tuple[str, ...]:
        """Valid ``flip`` targets, the default first."""
        return tuple(self._buffers)

    def flip(self, offset: int, bit: int, target: str = "") -> tuple[int, int]:
        """Flip bit ``bit`` (0..7) of byte ``offset`` of ``target``; return (old byte, new byte)."""
        key = target or next(iter(self._buffers))
        if key not in self._buffers:
            raise ValueError(f"target must be one of {self.targets()}, got {target!r}")
        offset, bit = operator.index(offset), operator.index(bit)
        if not 0 <= offset < self.size or not 0 <= bit < 8:
            raise ValueError(f"offset {offset} or bit {bit} out of range (size {self.size}, bits 0..7)")
        buffer = self._buffers[key]
        with self._lock:
            old = int(buffer[offset])
            buffer[offset] = old ^ (1 << bit)
        return old, old ^ (1 << bit)

    def _chunk_span(self, offset: int, length: int) -> tuple[int, int]:
        """Byte bounds of ``[offset, offset + length)`` rounded out to whole chunks (empty: equal)."""
        offset, length = operator.index(offset), operator.index(length)
        if offset < 0 or length < 0 or offset + length > self.size:
            raise ValueError(f"range [{offset}, {offset + length}) is not within [0, {self.size})")
        if length == 0:
            return offset, offset
        cs = self.chunk_size
        return offset - offset % cs, min(self.size, -(-(offset + length) // cs) * cs)


class TmrRegion(_RegionBase):
    """Critical state in three copies (``copies``, shape (3, size), uint8), voted bitwise.

    ``scrub`` votes the chunks of the range and checks each voted chunk against its reference CRC:
    - it matches: each copy that differs from the voted value gets one finding (``copy`` "0", "1" or
      "2", ``offset`` of its first differing byte in the chunk, ``bits`` = popcount of copy xor
      voted) and is repaired in place;
    - it does not (two copies hit alike): one uncorrectable finding (``copy`` ""; ``offset`` of the
      chunk's first byte where the copies are not unanimous, else the chunk start; ``bits`` = the
      number of bit positions where they are not unanimous, 0 if they all agree) and nothing is
      written, so the one good copy is still there for whoever recovers.
    """

    kind = "tmr"

    def __init__(self, name: str, size_or_data: int | bytes, chunk_size: int = 4096) -> None:
        if isinstance(size_or_data, int):
            if size_or_data < 0:
                raise ValueError(f"size must not be negative, got {size_or_data}")
            value = np.zeros(size_or_data, np.uint8)
        else:
            value = np.frombuffer(size_or_data, np.uint8)
        self.copies = np.tile(value, (3, 1))
        super().__init__(name, value.size, chunk_size, {str(k): self.copies[k] for k in range(3)})
        self._reference = _ReferenceCrcs(native.crc32c_chunks(value, self.chunk_size))
        self._block = max(1, _BLOCK_BYTES // self.chunk_size) * self.chunk_size
        self._scratch = np.empty(min(self.size, self._block), np.uint8)

    def read(self) -> bytes:
        """The bitwise-majority value of the three copies (no repair)."""
        with self._lock:
            return bytes(native.vote3(self.copies[0], self.copies[1], self.copies[2]).voted)

    def write(self, data: bytes, offset: int = 0) -> None:
        """Write ``data`` at ``offset`` into all three copies and update the reference CRCs.

        A chunk the write covers whole gets the CRC of the new data. A partly written chunk keeps
        its intended value outside the write: the reference is updated by the change only
        (CRC-32C is affine: crc(x ^ d) = crc(x) ^ crc(d) ^ crc(zeros)), so a latent double hit in
        the unwritten bytes stays detectable.
        """
        value = np.frombuffer(data, np.uint8)
        offset = operator.index(offset)
        end = offset + value.size
        if offset < 0 or end > self.size:
            raise ValueError(f"write of {value.size} bytes at {offset} does not fit in {self.size}")
        if not value.size:
            return
        cs = self.chunk_size
        with self._lock:
            lo, hi = self._chunk_span(offset, value.size)
            first, stop = lo // cs, -(-hi // cs)
            old = native.vote3(self.copies[0, lo:hi], self.copies[1, lo:hi], self.copies[2, lo:hi]).voted
            new = old.copy()
            new[offset - lo : end - lo] = value
            new_crcs = native.crc32c_chunks(new, cs)
            changed_crcs = (
                self._reference.voted(first, stop)
                ^ native.crc32c_chunks(old ^ new, cs)
                ^ native.crc32c_chunks(np.zeros(hi - lo, np.uint8), cs)
            )
            starts = np.arange(lo, hi, cs)
            whole = (starts >= offset) & (np.minimum(starts + cs, self.size) <= end)
            self.copies[:, offset:end] = value
            self._reference.store(first, np.where(whole, new_crcs, changed_crcs))

    def scrub(self, offset: int, length: int) -> ScrubResult:
        """Vote, check and repair the chunks of ``[offset, offset + length)`` (see the class)."""
        lo, hi = self._chunk_span(offset, length)
        cs = self.chunk_size
        findings: list[Finding] = []
        with self._lock:
            reference = self._reference.voted(lo // cs, -(-hi // cs))
            for start in range(lo, hi, self._block):
                stop = min(start + self._block, hi)
                findings += self._scrub_block(start, stop, reference[(start - lo) // cs :])
        return ScrubResult(hi - lo, findings)

    def _scrub_block(self, lo: int, hi: int, reference: np.ndarray) -> list[Finding]:
        cs = self.chunk_size
        copies = [self.copies[k, lo:hi] for k in range(3)]
        voted = self._scratch[: hi - lo]
        vote = native.vote3(*copies, out=voted)
        crcs = native.crc32c_chunks(voted, cs)
        wrong = crcs != reference[: crcs.size]
        if vote.first_offset is None and not wrong.any():
            return []
        attention = wrong.copy()
        if vote.first_offset is not None:
            f, last = vote.first_offset, vote.last_offset + 1
            spread = (copies[0][f:last] ^ copies[1][f:last]) | (copies[1][f:last] ^ copies[2][f:last])
            attention[(f + np.flatnonzero(spread)) // cs] = True
        findings = []
        for chunk in np.flatnonzero(attention):
            s, e = chunk * cs, min((chunk + 1) * cs, hi - lo)
            if wrong[chunk]:
                spread = (copies[0][s:e] ^ copies[1][s:e]) | (copies[1][s:e] ^ copies[2][s:e])
                where = lo + s + _first_nonzero(spread)
                findings.append(Finding(self.name, where, _popcount(spread), repaired=False, uncorrectable=True))
                continue
            for k, copy in enumerate(copies):
                diff = copy[s:e] ^ voted[s:e]
                if diff.any():
                    where = lo + s + _first_nonzero(diff)
                    findings.append(Finding(self.name, where, _popcount(diff), True, False, str(k)))
                    copy[s:e] = voted[s:e]
        return findings


class LiveGoldenRegion(_RegionBase):
    """Read-mostly data used in place (``live``) with a ``golden`` copy, both flat uint8 views.

    ``live`` is the caller's writable C-contiguous array of any dtype (e.g. over shared memory):
    repairs write its bytes in place and the array object is never replaced. ``golden`` is a
    private copy of live's bytes unless given (then any writable C-contiguous array of the same
    byte size, not overlapping live). The reference CRCs are those of the golden at construction.

    ``scrub`` checks the CRC of each chunk of live and golden against the reference:
    - live bad, golden good: golden is copied into live (``copy`` "live");
    - live good, golden bad: live is copied into golden (``copy`` "golden");
    - both bad: an uncorrectable finding (``copy`` "") and nothing written.
    In every case ``offset`` is the chunk's first byte where live and golden differ (the chunk
    start if none) and ``bits`` the popcount of live xor golden over the chunk, before any repair.
    """

    kind = "live"

    def __init__(self, name: str, live: np.ndarray, golden: np.ndarray | None = None, chunk_size: int = 65536) -> None:
        self.live = _byte_view(live, "live", writable=True)
        if golden is None:
            self.golden = self.live.copy()
        else:
            self.golden = _byte_view(golden, "golden", writable=True)
            if self.golden.size != self.live.size or np.may_share_memory(self.golden, self.live):
                raise ValueError("golden must have live's size in bytes and not overlap it")
        super().__init__(name, self.live.size, chunk_size, {"live": self.live, "golden": self.golden})
        self._reference = _ReferenceCrcs(native.crc32c_chunks(self.golden, self.chunk_size))

    def reload(self, data: bytes | np.ndarray) -> None:
        """Recovery from trusted data of the same size: new golden, live and reference."""
        if isinstance(data, np.ndarray):
            value = _byte_view(data, "data", writable=False)
        else:
            value = np.frombuffer(data, np.uint8)
        if value.size != self.size:
            raise ValueError(f"reload with {value.size} bytes, region {self.name!r} has {self.size}")
        with self._lock:
            self.golden[:] = value
            self.live[:] = self.golden
            self._reference.store(0, native.crc32c_chunks(self.golden, self.chunk_size))

    def scrub(self, offset: int, length: int) -> ScrubResult:
        """Check and repair the chunks of ``[offset, offset + length)`` (see the class)."""
        lo, hi = self._chunk_span(offset, length)
        cs = self.chunk_size
        with self._lock:
            reference = self._reference.voted(lo // cs, -(-hi // cs))
            live_bad = native.crc32c_chunks(self.live[lo:hi], cs) != reference
            golden_bad = native.crc32c_chunks(self.golden[lo:hi], cs) != reference
            findings = [
                self._repair_chunk(lo // cs + i, bool(live_bad[i]), bool(golden_bad[i]))
                for i in np.flatnonzero(live_bad | golden_bad)
            ]
        return ScrubResult(hi - lo, findings)

    def _repair_chunk(self, chunk: int, live_bad: bool, golden_bad: bool) -> Finding:
        s, e = chunk * self.chunk_size, min((chunk + 1) * self.chunk_size, self.size)
        live, golden = self.live[s:e], self.golden[s:e]
        diff = live ^ golden
        where, bits = s + _first_nonzero(diff), _popcount(diff)
        if live_bad and golden_bad:
            return Finding(self.name, where, bits, repaired=False, uncorrectable=True)
        if live_bad:
            live[:] = golden
        else:
            golden[:] = live
        return Finding(self.name, where, bits, True, False, "live" if live_bad else "golden")


class MonitoredRegion(_RegionBase):
    """Data that is only checked: chunk CRCs against a reference, reported, never written.

    ``scrub`` reports a chunk whose CRC differs from its reference (``repaired`` and
    ``uncorrectable`` False, ``copy`` "", ``offset`` the chunk start and ``bits`` 0: with no
    reference copy of the bytes, a CRC cannot tell which bits changed). Each change is reported
    once: a reported chunk is reported again only when its CRC changes again, or after it has
    gone back to its reference and then changed. ``flip`` (target "data") writes the data, so it
    needs a writable array; ``scrub`` does not.
    """

    kind = "monitored"

    def __init__(self, name: str, data: np.ndarray, chunk_size: int = 65536) -> None:
        self.data = _byte_view(data, "data", writable=False)
        super().__init__(name, self.data.size, chunk_size, {"data": self.data})
        self._reference = _ReferenceCrcs(native.crc32c_chunks(self.data, self.chunk_size))
        self._reported: dict[int, int] = {}  # chunk -> CRC of the content last reported

    def rebaseline(self) -> None:
        """Accept the current contents as the reference."""
        with self._lock:
            self._reference.store(0, native.crc32c_chunks(self.data, self.chunk_size))
            self._reported.clear()

    def scrub(self, offset: int, length: int) -> ScrubResult:
        """Report the chunks of ``[offset, offset + length)`` that changed since last reported."""
        lo, hi = self._chunk_span(offset, length)
        cs = self.chunk_size
        first, stop = lo // cs, -(-hi // cs)
        findings = []
        with self._lock:
            crcs = native.crc32c_chunks(self.data[lo:hi], cs)
            changed = crcs != self._reference.voted(first, stop)
            for i in np.flatnonzero(changed):
                chunk, crc = first + int(i), int(crcs[i])
                if self._reported.get(chunk) != crc:
                    self._reported[chunk] = crc
                    findings.append(Finding(self.name, chunk * cs, 0, repaired=False, uncorrectable=False))
            for chunk in [c for c in self._reported if first <= c < stop and not changed[c - first]]:
                del self._reported[chunk]
        return ScrubResult(hi - lo, findings)


class RegionRegistry:
    """Thread-safe set of regions by unique name, in registration order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._regions: dict[str, Region] = {}

    def add(self, region: Region) -> Region:
        """Register ``region``; ValueError if its name is taken."""
        with self._lock:
            if region.name in self._regions:
                raise ValueError(f"a region named {region.name!r} is already registered")
            self._regions[region.name] = region
        return region

    def remove(self, name: str) -> None:
        """Unregister the region ``name``; KeyError if there is none."""
        with self._lock:
            del self._regions[name]

    def apply(self, change: RegionChange) -> None:
        """Register or unregister the region an owner offers or withdraws."""
        if change.added:
            self.add(change.area)  # type: ignore[arg-type]
        else:
            self.remove(change.area.name)

    def get(self, name: str) -> Region:
        """The region ``name``; KeyError if there is none."""
        with self._lock:
            return self._regions[name]

    def regions(self) -> list[Region]:
        """A snapshot of the regions, in registration order."""
        with self._lock:
            return list(self._regions.values())

    @property
    def total_bytes(self) -> int:
        """Sum of the sizes of the registered regions."""
        with self._lock:
            return sum(region.size for region in self._regions.values())
