"""CCSDS Space Data Link Security (355.0-B-2) for TC frames: AES-256-GCM, byte-compatible with NASA CryptoLib.

Anyone with a transmitter can send the spacecraft a TC frame. SDLS makes the flight refuse the
ones the ground did not make: each frame carries a security header naming its Security
Association (SA: key, algorithm, field lengths, anti-replay state) and a MAC the flight checks
before it looks at a single packet inside. Two services, both AES-256-GCM:

- authenticated encryption: the data field is encrypted; the MAC (GCM tag) covers the AAD and
  the ciphertext;
- authentication only: the data field travels in clear; the MAC is a GMAC (GCM over no
  plaintext) of the AAD, and here the AAD runs on through the data field.

``apply`` is the ground side (protect a frame, advance the SA's IV and ARSN); ``process`` is the
flight side (verify, decrypt, return the inner frame or refuse with an :class:`SdlsReason`).

Byte layout of a protected frame (sizes in octets; the SA fixes every length)::

    +---------+---------+-----+---------+-----------+---------+-------------------+-----+------+
    | primary | segment | SPI |   IV    |   ARSN    | pad len |    data field     | MAC | FECF |
    | header  | header  |     | (sent   | (sent     |         | (ciphertext, or   |     |      |
    |    5    | 0 or 1  |  2  |  part)  |   part)   | 0..3    |  clear for auth)  |     |  2   |
    +---------+---------+-----+---------+-----------+---------+-------------------+-----+------+
    |<------------------- AAD for authenticated encryption ------->|
    |<------------------- AAD for authentication only -------------------------------->|

- the primary header's length field is that of the protected frame; the FECF is recomputed
  over the protected frame (it is absent when the VC has none);
- SPI: 16 bits. IV: the low ``iv_tx_len`` octets of the SA's ``iv_len``-octet IV (CryptoLib's
  shivf_len; the rest is implicit, see below). ARSN: likewise the low ``arsn_tx_len`` octets of
  the ``arsn_len``-octet anti-replay sequence number (0 for none). Pad length: ``pad_len_len``
  zero octets (GCM needs no padding; CryptoLib's SAs use 0);
- AAD = the frame from its first octet (primary header, segment header when the VC has one,
  then the security header), each octet ANDed with the same octet of the SA's authentication
  bit mask (ABM), octet 0 of the ABM masking octet 0 of the frame. This is CryptoLib's
  ``Crypto_Prepare_TC_AAD``. MAC: the first ``mac_len`` octets of the GCM tag (16, or the
  truncated lengths GCM allows: 4, 8, 12..15).

SA parameters per service (what CryptoLib's TC unit tests use, and our defaults):

| parameter | authenticated encryption | authentication only |
|---|---|---|
| ecs / est, ast | AES-256-GCM, est=1 ast=1 | AES-256-GCM, est=0 ast=1 |
| key | 32 octets | 32 octets |
| iv_len / iv_tx_len | 12 / 12 (6 in the rollover tests) | 12 / 12 |
| arsn_len / arsn_tx_len | 0 (2 in GCM_IV_AND_ARSN) | 2 / 2 |
| pad_len_len (shplf_len) | 0 | 0 |
| mac_len (stmacf_len) | 16 | 16 |
| abm | CryptoLib in-memory SAs: all zero; ours: None (all ones) | all ones (NIST_ENC_MAC tests) |
| window (arsnw) | 5 | 5 |

Anti-replay (CryptoLib ``Crypto_Check_Anti_Replay`` / ``Crypto_window``): the receiver keeps the
last accepted IV and ARSN, both checked against the SA's one window (CryptoLib's arsnw). A
received value must be above the last accepted one and at most ``window`` above it; the ARSN is
checked first, then the IV, both before the MAC, and the state moves only once the MAC is good.
When only the low octets are sent, the full value is the smallest one above the last accepted
whose low octets match (CryptoLib's ``crypto_handle_incrementing_nontransmitted_counter``,
SA_INCREMENT_NONTRANSMITTED_IV_TRUE, the setting of its TC unit tests). Before anything is
accepted, 0..window are (CryptoLib's all-zero start). REPLAY means at or below the last accepted
value, OUTSIDE_WINDOW beyond the window; a partly sent counter cannot tell an old value from a
far one and reports OUTSIDE_WINDOW (CryptoLib reports *_OUTSIDE_WINDOW for all of these).

Receive state, as :func:`save_receive_state` returns it (JSON-ready; restore never lowers a
counter). The sending side's ``iv``/``arsn`` are plain ints the ground must keep as well: a
reused IV under one GCM key gives the key's authentication away::

    {"version": 1, "sas": {"<spi>": {"last_iv": "<hex, iv_len octets>" | null,
                                     "last_arsn": "<hex, arsn_len octets>" | null}}}

CryptoLib and the standard (interoperability first; this module was written from CryptoLib's
code and tests, not from the standard's text, which it cites only where CryptoLib does):

- followed, as CryptoLib does it: the AAD starts at the frame's first octet and takes in the
  segment header and the transmitted IV and ARSN; the window accepts only values above the last
  accepted one (no out-of-order bitmap, unlike IPsec/DTLS windows); 0..window before anything is
  accepted; the implicit IV octets carry when the transmitted ones roll over; Type-C (control
  command) frames carry no security header (CryptoLib cites 232.0-B-3 §6.3.1) and are refused
  by both sides, so COP-1 control commands travel unprotected; the ARSN field is absent when an
  SA has no ARSN (355.0-B-2 §4.1.1.4.4 as CryptoLib quotes it).
- not followed: CryptoLib's in-memory SAs default to an all-zero ABM, which leaves the whole
  header unauthenticated (its AE vectors use it, so the tests set it); ours defaults to all
  ones, and an ABM shorter than the AAD leaves the octets past its end unmasked where CryptoLib
  refuses the frame. CryptoLib's counters wrap to zero, which under GCM reuses an IV; here
  ``apply`` refuses an exhausted IV or ARSN and ``process`` a value that is not above the last
  one. With SA_INCREMENT_NONTRANSMITTED_IV_FALSE CryptoLib keeps the implicit IV octets static
  and accepts a transmitted part that rolled over (the same full IV again); not offered. With
  GCM and pad_len_len > 0 CryptoLib's apply writes the data field where the pad length field
  belongs (its process reads it one octet later); ours writes zero pad length octets where both
  processes read them. CryptoLib does not advance an IV that is not transmitted at all; ours
  always does. Encryption-only and clear SAs are not offered: every frame is authenticated.

| requirement | verified by |
|---|---|
| apply reproduces CryptoLib's protected frames byte for byte, both services | tests/unit/wire/test_sdls.py |
| process accepts CryptoLib's protected frames and returns their plaintext | tests/unit/wire/test_sdls.py |
| process refuses where CryptoLib does (replay, window, MAC, SA state, Type-C) | tests/unit/wire/test_sdls.py |
| apply then process returns the data field, both services, random SA parameters | tests/unit/wire/test_sdls.py |
| every single-bit flip of a protected frame is refused | tests/unit/wire/test_sdls.py |
| replay, behind/beyond the window, unknown SPI, inactive SA: refused with reason | tests/unit/wire/test_sdls.py |
| saved receive state, restored into a fresh table, refuses a frame seen before | tests/unit/wire/test_sdls.py |
"""
from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from native import crc16_ccitt_false

from flight.wire.tc_frame import (FECF_SIZE, MAX_FRAME_SIZE, PRIMARY_HEADER_SIZE, SEGMENT_HEADER_SIZE,
                                  FrameError, TcFrame)

SPI_SIZE = 2
KEY_SIZE = 32
MAC_SIZES = frozenset({4, 8, 12, 13, 14, 15, 16})
IV_SIZES = range(8, 17)
MAX_ARSN_SIZE = 20
MAX_PAD_LENGTH_SIZE = 3
STATE_VERSION = 1


class Service(enum.Enum):
    """What an SA does to the data field."""

    AUTHENTICATED_ENCRYPTION = "authenticated_encryption"
    AUTHENTICATION = "authentication"


class SdlsReason(enum.Enum):
    """Why a frame was not protected (apply) or not accepted (process)."""

    BAD_FRAME = "bad_frame"                  # the TC frame itself is refused (see the FrameError chained)
    CONTROL_FRAME = "control_frame"          # a Type-C frame: it carries no security header
    MALFORMED = "malformed"                  # too short for its SA's header and trailer, or a nonzero pad length
    UNKNOWN_SPI = "unknown_spi"
    INACTIVE_SA = "inactive_sa"
    WRONG_CHANNEL = "wrong_channel"          # the SA is bound to another virtual channel
    KEY_UNAVAILABLE = "key_unavailable"
    BAD_MAC = "bad_mac"
    REPLAY = "replay"                        # IV or ARSN not above the last accepted
    OUTSIDE_WINDOW = "outside_window"        # IV or ARSN beyond the anti-replay window
    COUNTER_EXHAUSTED = "counter_exhausted"  # apply: the next IV or ARSN would wrap
    TOO_LONG = "too_long"                    # apply: the protected frame would exceed 1024 octets


class SdlsError(ValueError):
    """A frame refused for an :class:`SdlsReason`."""

    def __init__(self, reason: SdlsReason, message: str) -> None:
        super().__init__(f"{reason.name}: {message}")
        self.reason = reason
        self.message = message


@dataclass(eq=False)
class SecurityAssociation:
    """One SA: fixed parameters, and the counters ``apply`` and ``process`` move.

    ``iv``/``arsn``: the next values the sender uses (ground). ``last_iv``/``last_arsn``: the
    last values the receiver accepted, None before the first (flight; see
    :func:`save_receive_state`). The key is ``key`` or, when None, ``keys[key_id]`` passed to
    apply/process. ``vcid``, when set, binds the SA to one virtual channel."""

    spi: int
    service: Service = Service.AUTHENTICATED_ENCRYPTION
    key: bytes | None = field(default=None, repr=False)
    key_id: int | None = None
    iv_len: int = 12
    iv_tx_len: int | None = None
    arsn_len: int = 0
    arsn_tx_len: int | None = None
    pad_len_len: int = 0
    mac_len: int = 16
    abm: bytes | None = field(default=None, repr=False)
    window: int = 5
    active: bool = True
    vcid: int | None = None
    iv: int = 0
    arsn: int = 0
    last_iv: int | None = None
    last_arsn: int | None = None

    def __post_init__(self) -> None:
        if self.iv_tx_len is None:
            self.iv_tx_len = self.iv_len
        if self.arsn_tx_len is None:
            self.arsn_tx_len = self.arsn_len
        self._validate()

    def _validate(self) -> None:
        checks = [
            (0 <= self.spi <= 0xFFFF, f"SPI {self.spi} outside 16 bits"),
            (isinstance(self.service, Service), f"service {self.service!r} is not a Service"),
            (self.key is not None or self.key_id is not None, "an SA needs a key or a key id"),
            (self.key is None or len(self.key) == KEY_SIZE, f"AES-256-GCM keys are {KEY_SIZE} octets"),
            (self.iv_len in IV_SIZES, f"IV length {self.iv_len} outside 8..16"),
            (0 <= self.iv_tx_len <= self.iv_len, f"transmitted IV length {self.iv_tx_len} outside 0..iv_len"),
            (0 <= self.arsn_len <= MAX_ARSN_SIZE, f"ARSN length {self.arsn_len} outside 0..{MAX_ARSN_SIZE}"),
            (0 <= self.arsn_tx_len <= self.arsn_len, f"transmitted ARSN length {self.arsn_tx_len} outside 0..arsn_len"),
            (0 <= self.pad_len_len <= MAX_PAD_LENGTH_SIZE, f"pad length field {self.pad_len_len} outside 0..3"),
            (self.mac_len in MAC_SIZES, f"MAC length {self.mac_len} not one of {sorted(MAC_SIZES)}"),
            (self.window >= 1, f"anti-replay window {self.window} below 1"),
            (0 <= self.iv <= _top(self.iv_len), "IV outside its length"),
            (0 <= self.arsn <= _top(self.arsn_len), "ARSN outside its length"),
            (self.last_iv is None or 0 <= self.last_iv < _top(self.iv_len), "last IV outside its length"),
            (self.last_arsn is None or 0 <= self.last_arsn < _top(self.arsn_len), "last ARSN outside its length"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(f"SA {self.spi}: {message}")

    @property
    def header_size(self) -> int:
        """Octets of the security header: SPI, sent IV, sent ARSN, pad length."""
        return SPI_SIZE + self.iv_tx_len + self.arsn_tx_len + self.pad_len_len

    def security_header(self, iv: int, arsn: int) -> bytes:
        """The security header carrying the low octets of ``iv`` and ``arsn``."""
        return (self.spi.to_bytes(SPI_SIZE, "big") + _low(iv, self.iv_len, self.iv_tx_len)
                + _low(arsn, self.arsn_len, self.arsn_tx_len) + bytes(self.pad_len_len))


def sa_table(*sas: SecurityAssociation) -> dict[int, SecurityAssociation]:
    """The SAs keyed by SPI, refusing two with one SPI."""
    table: dict[int, SecurityAssociation] = {}
    for sa in sas:
        if sa.spi in table:
            raise ValueError(f"two SAs with SPI {sa.spi}")
        table[sa.spi] = sa
    return table


@dataclass(frozen=True)
class Processed:
    """A frame ``process`` accepted: the unprotected frame, and the SA values it carried."""

    frame: TcFrame
    spi: int
    iv: int
    arsn: int | None

    @property
    def data(self) -> bytes:
        return self.frame.data

    def packets(self) -> list[bytes]:
        """The space packets of the verified data field (FrameError on a partial packet)."""
        return self.frame.packets()


def _top(length: int) -> int:
    """The first value a counter of ``length`` octets cannot hold."""
    return 1 << (8 * length)


def _low(value: int, length: int, sent: int) -> bytes:
    """The low ``sent`` octets of ``value`` written on ``length`` octets."""
    return value.to_bytes(length, "big")[length - sent:]


def masked(prefix: bytes, abm: bytes | None) -> bytes:
    """The AAD: ``prefix`` ANDed octet by octet with the ABM; octets past the ABM's end unmasked."""
    if abm is None:
        return prefix
    size = min(len(prefix), len(abm))
    head = int.from_bytes(prefix[:size], "big") & int.from_bytes(abm[:size], "big")  # one AND, not one per octet
    return head.to_bytes(size, "big") + prefix[size:]


def sa_key(sa: SecurityAssociation, keys: Mapping[int, bytes] | None) -> bytes:
    key = sa.key
    if key is None and keys is not None and sa.key_id in keys:
        key = keys[sa.key_id]
    if key is None or len(key) != KEY_SIZE:
        raise SdlsError(SdlsReason.KEY_UNAVAILABLE, f"SA {sa.spi}: no {KEY_SIZE}-octet key (key id {sa.key_id})")
    return bytes(key)


def _seal(sa: SecurityAssociation, key: bytes, iv: int, prefix: bytes, data: bytes) -> bytes:
    """``prefix`` (headers), then the data field (encrypted or clear), then the MAC."""
    encryptor = Cipher(algorithms.AES(key), modes.GCM(iv.to_bytes(sa.iv_len, "big"))).encryptor()
    if sa.service is Service.AUTHENTICATED_ENCRYPTION:
        encryptor.authenticate_additional_data(masked(prefix, sa.abm))
        body = encryptor.update(data) + encryptor.finalize()
    else:
        encryptor.authenticate_additional_data(masked(prefix + data, sa.abm))
        encryptor.finalize()
        body = data
    return prefix + body + encryptor.tag[:sa.mac_len]


def _open(sa: SecurityAssociation, key: bytes, iv: int, prefix: bytes, body: bytes, mac: bytes) -> bytes:
    """The data field of a frame whose MAC verifies; BAD_MAC otherwise."""
    mode = modes.GCM(iv.to_bytes(sa.iv_len, "big"), mac, min_tag_length=len(mac))
    decryptor = Cipher(algorithms.AES(key), mode).decryptor()
    try:
        if sa.service is Service.AUTHENTICATED_ENCRYPTION:
            decryptor.authenticate_additional_data(masked(prefix, sa.abm))
            data = decryptor.update(body)
        else:
            decryptor.authenticate_additional_data(masked(prefix + body, sa.abm))
            data = body
        decryptor.finalize()
    except InvalidTag:
        raise SdlsError(SdlsReason.BAD_MAC, f"SA {sa.spi}: MAC does not verify") from None
    return data


def _decode(raw: bytes | bytearray | memoryview | TcFrame, segment_header: bool | frozenset[int],
            fecf: bool) -> TcFrame:
    if isinstance(raw, TcFrame):
        return raw
    try:
        return TcFrame.decode(raw, segment_header=segment_header, fecf=fecf)
    except FrameError as exc:
        raise SdlsError(SdlsReason.BAD_FRAME, str(exc)) from exc


def _check_channel(sa: SecurityAssociation, frame: TcFrame) -> None:
    if frame.header.control:
        raise SdlsError(SdlsReason.CONTROL_FRAME, "a Type-C frame carries no security header")
    if not sa.active:
        raise SdlsError(SdlsReason.INACTIVE_SA, f"SA {sa.spi} is not active")
    if sa.vcid is not None and frame.header.vcid != sa.vcid:
        raise SdlsError(SdlsReason.WRONG_CHANNEL, f"SA {sa.spi} is bound to VC {sa.vcid}, "
                        f"the frame is on VC {frame.header.vcid}")


def apply(frame: TcFrame | bytes | bytearray | memoryview, sa: SecurityAssociation, *,
          keys: Mapping[int, bytes] | None = None, segment_header: bool | frozenset[int] = False,
          fecf: bool = True) -> bytes:
    """Protect a TC frame under ``sa`` (ground side) and advance the SA's IV and ARSN.

    ``frame``: a :class:`TcFrame`, or encoded octets decoded with ``segment_header`` and
    ``fecf``. Returns the protected frame's octets. Nothing moves when it refuses."""
    frame = _decode(frame, segment_header, fecf)
    _check_channel(sa, frame)
    key = sa_key(sa, keys)
    if sa.iv >= _top(sa.iv_len) or (sa.arsn_len and sa.arsn >= _top(sa.arsn_len)):
        raise SdlsError(SdlsReason.COUNTER_EXHAUSTED, f"SA {sa.spi}: IV or ARSN used up, the SA needs a new key")
    segment = frame.segment.pack() if frame.segment else b""
    size = (PRIMARY_HEADER_SIZE + len(segment) + sa.header_size + len(frame.data) + sa.mac_len
            + (FECF_SIZE if frame.fecf else 0))
    if size > MAX_FRAME_SIZE:
        raise SdlsError(SdlsReason.TOO_LONG, f"protected frame of {size} octets, at most {MAX_FRAME_SIZE}")
    prefix = frame.header.pack(size) + segment + sa.security_header(sa.iv, sa.arsn)
    body = _seal(sa, key, sa.iv, prefix, frame.data)
    sa.iv += 1
    if sa.arsn_len:
        sa.arsn += 1
    return body + crc16_ccitt_false(body).to_bytes(FECF_SIZE, "big") if frame.fecf else body


def full_counter(name: str, received: int, length: int, sent: int, last: int | None, window: int) -> int:
    """The full value of a counter of which the frame carries the low ``sent`` octets, or
    REPLAY / OUTSIDE_WINDOW. Before anything was accepted, 0..window are acceptable."""
    base, span = (last, window) if last is not None else (-1, window + 1)
    if sent == length:
        full = received
        if full <= base:
            raise SdlsError(SdlsReason.REPLAY, f"{name} {full:#x} not above the last accepted {base:#x}")
    else:
        full = base + 1 + (received - base - 1) % _top(sent)
    if full - base > span or full >= _top(length):
        raise SdlsError(SdlsReason.OUTSIDE_WINDOW, f"{name} {full:#x} beyond the window of {window} "
                        f"above {'nothing accepted' if last is None else f'{last:#x}'}")
    return full


def _lookup(frame: TcFrame, sas: Mapping[int, SecurityAssociation]) -> SecurityAssociation:
    if len(frame.data) < SPI_SIZE:
        raise SdlsError(SdlsReason.MALFORMED, f"data field of {len(frame.data)} octets has no SPI")
    spi = int.from_bytes(frame.data[:SPI_SIZE], "big")
    sa = sas.get(spi)
    if sa is None:
        raise SdlsError(SdlsReason.UNKNOWN_SPI, f"no SA with SPI {spi}")
    _check_channel(sa, frame)
    if len(frame.data) < sa.header_size + sa.mac_len:
        raise SdlsError(SdlsReason.MALFORMED, f"data field of {len(frame.data)} octets, SA {spi} needs at least "
                        f"{sa.header_size + sa.mac_len}")
    return sa


def process(raw: bytes | bytearray | memoryview, sas: Mapping[int, SecurityAssociation], *,
            keys: Mapping[int, bytes] | None = None, segment_header: bool | frozenset[int] = False,
            fecf: bool = True) -> Processed:
    """Verify and open a protected TC frame (flight side); refuse it with an :class:`SdlsError`.

    Every check (frame, SPI, SA state and channel, lengths, anti-replay, MAC) is done before the
    data field is returned; the SA's receive state moves only when the frame is accepted."""
    raw = bytes(raw)
    frame = _decode(raw, segment_header, fecf)
    if frame.header.control:
        raise SdlsError(SdlsReason.CONTROL_FRAME, "a Type-C frame carries no security header")
    sa = _lookup(frame, sas)
    key = sa_key(sa, keys)
    start = PRIMARY_HEADER_SIZE + (SEGMENT_HEADER_SIZE if frame.segment else 0)
    fields = frame.data[SPI_SIZE:sa.header_size]
    sent_iv, sent_arsn = fields[:sa.iv_tx_len], fields[sa.iv_tx_len:sa.iv_tx_len + sa.arsn_tx_len]
    if any(fields[sa.iv_tx_len + sa.arsn_tx_len:]):
        raise SdlsError(SdlsReason.MALFORMED, f"SA {sa.spi}: nonzero pad length with GCM")
    arsn = None
    if sa.arsn_len:
        arsn = full_counter("ARSN", int.from_bytes(sent_arsn, "big"), sa.arsn_len, sa.arsn_tx_len,
                             sa.last_arsn, sa.window)
    iv = full_counter("IV", int.from_bytes(sent_iv, "big"), sa.iv_len, sa.iv_tx_len, sa.last_iv, sa.window)
    prefix_end = start + sa.header_size
    mac_start = start + len(frame.data) - sa.mac_len
    data = _open(sa, key, iv, raw[:prefix_end], raw[prefix_end:mac_start], raw[mac_start:mac_start + sa.mac_len])
    sa.last_iv = iv
    if arsn is not None:
        sa.last_arsn = arsn
    inner = TcFrame(frame.header, data, frame.segment, frame.fecf)
    return Processed(inner, sa.spi, iv, arsn)


def save_receive_state(sas: Mapping[int, SecurityAssociation]) -> dict:
    """The receive state of every SA (last accepted IV and ARSN), JSON-ready (see the module doc)."""
    def hex_of(value: int | None, length: int) -> str | None:
        return None if value is None else value.to_bytes(length, "big").hex()
    return {"version": STATE_VERSION,
            "sas": {str(spi): {"last_iv": hex_of(sa.last_iv, sa.iv_len),
                               "last_arsn": hex_of(sa.last_arsn, sa.arsn_len) if sa.arsn_len else None}
                    for spi, sa in sorted(sas.items())}}


def _restored(saved: object, length: int, current: int | None, what: str) -> int | None:
    if saved is None:
        return current
    if not isinstance(saved, str) or len(saved) != 2 * length:
        raise ValueError(f"{what}: expected {length} octets of hex, got {saved!r}")
    value = int.from_bytes(bytes.fromhex(saved), "big")
    return value if current is None else max(value, current)


def restore_receive_state(sas: Mapping[int, SecurityAssociation], state: Mapping) -> None:
    """Put saved receive state back into ``sas`` (e.g. a fresh table after a restart).

    A counter only moves up (the later of the saved and the current value), so a restored
    state never reopens a frame accepted since. Entries for SPIs not in ``sas`` are ignored;
    a malformed state raises ValueError and changes nothing."""
    if not isinstance(state, Mapping) or state.get("version") != STATE_VERSION:
        raise ValueError(f"receive state: expected version {STATE_VERSION}")
    entries = state.get("sas")
    if not isinstance(entries, Mapping):
        raise ValueError("receive state: 'sas' is not a mapping")
    updates = []
    for key, entry in entries.items():
        sa = sas.get(int(key))
        if sa is None:
            continue
        if not isinstance(entry, Mapping):
            raise ValueError(f"receive state for SPI {key} is not a mapping")
        last_iv = _restored(entry.get("last_iv"), sa.iv_len, sa.last_iv, f"SPI {key} last_iv")
        last_arsn = sa.last_arsn
        if sa.arsn_len:
            last_arsn = _restored(entry.get("last_arsn"), sa.arsn_len, sa.last_arsn, f"SPI {key} last_arsn")
        updates.append((sa, last_iv, last_arsn))
    for sa, last_iv, last_arsn in updates:
        sa.last_iv, sa.last_arsn = last_iv, last_arsn
