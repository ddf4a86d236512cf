"""CCSDS Space Data Link Security (355.0-B-2) for TM transfer frames: AES-256-GCM, byte-compatible
with NASA CryptoLib's ``Crypto_TM_ApplySecurity`` / ``Crypto_TM_ProcessSecurity``.

Anyone with a receiver tuned to the downlink can read the telemetry, and anyone with a transmitter
on that frequency can feed the ground frames the spacecraft never sent. SDLS makes the ground
refuse those: each TM frame carries a security header naming its Security Association (SA: key,
field lengths, anti-replay state) and a MAC the ground checks before a single packet of the frame
is used. Two services, both AES-256-GCM, with the SAs of :mod:`flight.wire.sdls`:

- authentication only (what telemetry needs at least): the data field travels in clear; the MAC is
  a GMAC (GCM over no plaintext) of the AAD, which runs from the frame's first octet through the
  end of the data field;
- authenticated encryption: the data field is encrypted; the MAC (GCM tag) covers the AAD (the
  headers) and the ciphertext.

``apply`` is the flight side (protect a frame of a :class:`~flight.wire.tm_frame.Packetizer` made
with ``reserve=reserve(sa)``, advance the SA's IV and ARSN); ``process`` is the ground side
(verify, decrypt, return a :class:`~flight.wire.tm_frame.TmFrame` that
:meth:`~flight.wire.tm_frame.Depacketizer.push` takes as it is, or refuse with an
:class:`~flight.wire.sdls.SdlsReason`).

Byte layout of a protected frame (sizes in octets; every frame of a channel is ``frame_length``
octets, and the SA fixes every length inside it)::

    +---------+-----+--------+--------+---------+----------------------+-----+--------+------+
    | primary | SPI |   IV   |  ARSN  | pad len |      data field      | MAC |  OCF   | FECF |
    | header  |     | (sent  | (sent  |         | (ciphertext, or      |     | (CLCW) |      |
    |    6    |  2  |  part) |  part) |  0..3   |  clear for auth)     |     | 0 or 4 |  2   |
    +---------+-----+--------+--------+---------+----------------------+-----+--------+------+
    |<--- AAD for authenticated encryption ---->|
    |<----------------- AAD for authentication only ------------------>|
    |<----------------------------- FECF (CRC-16) over ------------------------------>|

- primary header: as :mod:`flight.wire.tm_frame` writes it (no secondary header). The first
  header pointer is an offset in the data field proper, i.e. counted from the first octet after
  the security header (the packetizer, given ``reserve``, computes it so);
- security header: SPI (16 bits), the low ``iv_tx_len`` octets of the ``iv_len``-octet IV, the
  low ``arsn_tx_len`` octets of the ``arsn_len``-octet ARSN, ``pad_len_len`` zero octets (GCM
  needs no padding). Security trailer: the first ``mac_len`` octets of the GCM tag;
- data field: ``frame_length - 8 - (4 with an OCF) - header - MAC`` octets, at least 20;
- AAD: the frame from its first octet, each octet ANDed with the same octet of the SA's
  authentication bit mask (ABM; None is all ones). This is CryptoLib's ``Crypto_Prepare_TM_AAD``
  over its ``aad_len`` (header through security header for authenticated encryption, through the
  end of the data field for authentication);
- OCF and FECF are outside the MAC, as in CryptoLib: its apply leaves the OCF after the MAC,
  then writes the FECF, a CRC over every octet before it (ciphertext and MAC included). The CLCW
  is therefore not authenticated: a forged CLCW with a good FECF is accepted (the ground's COP-1
  must not rely on it for more than flow control).

SA parameters (:class:`~flight.wire.sdls.SecurityAssociation`; what CryptoLib's TM GCM tests use,
and ours):

| parameter | authenticated encryption | authentication only |
|---|---|---|
| ecs / est, ast | AES-256-GCM, est=1 ast=1 | AES-256-GCM (GMAC), est=0 ast=1 |
| key | 32 octets (CryptoLib's tests: key ring [5], all zero) | 32 octets |
| iv_len / iv_tx_len | 16 / 16 in CryptoLib's tests; ours 12 / 12 by default | 12 / 12 |
| arsn_len / arsn_tx_len | 0 | 0, or 2 / 2 |
| pad_len_len (shplf_len) | 0 | 0 |
| mac_len (stmacf_len) | 16 | 16 |
| abm | all ones (CryptoLib's TM tests set 0xFF); ours None = all ones | all ones |
| window (arsnw) | 5 | 5 |

Anti-replay and the receive state are those of :mod:`flight.wire.sdls` (last accepted IV and
ARSN, a value must be above the last accepted and at most ``window`` above it, 0..window before
anything is accepted; REPLAY at or below, OUTSIDE_WINDOW beyond); ``sdls.save_receive_state`` and
``sdls.restore_receive_state`` work on TM SAs as they are.

CryptoLib (interoperability first; written from CryptoLib's code and tests):

- followed: the layout above, the AAD spans and the ABM, the MAC before the OCF, the FECF
  recomputed over the protected frame, the IV incremented after each frame (implicit octets
  included, CryptoLib's SA_INCREMENT_NONTRANSMITTED_IV_TRUE), the SA found by SPI on process.
- not followed: (1) CryptoLib's TM code computes no MAC at all for a GCM SA with est=0, ast=1
  (its AEAD branch handles encryption and authenticated encryption only, and its MAC-only call
  offers CMAC and HMAC, not GMAC): its "authenticated" GCM frames carry whatever the caller left
  in the MAC field and its process checks none. Ours is the GMAC described above: the AAD span
  CryptoLib's TM code computes for authentication, sealed as CryptoLib's TC GMAC is. (2) CryptoLib
  checks IV and ARSN after the MAC; ours before it, as our TC does (a frame both replayed and
  altered reads REPLAY or OUTSIDE_WINDOW here, a MAC failure there; the state moves only on
  acceptance in both). (3) With ``iv_tx_len < iv_len`` CryptoLib's TM process hands GCM
  ``iv_len`` octets read from the frame at the IV field (the sent part and the octets after it),
  not the full IV its apply used; ours rebuilds the full IV as on TC. (4) CryptoLib checks the
  FECF only when configured to (its AEAD process test does not, and its frame's FECF is not its
  CRC); ours always checks it, first. (5) CryptoLib takes a TM secondary header (inside the AAD);
  our TM frames have none. (6) CryptoLib's apply picks the operational SA of the frame's virtual
  channel; ours is given the SA (bound to one VC when ``vcid`` is set). (7) CryptoLib can write a
  Frame Security Report into the OCF; ours carries the CLCW the packetizer gave. (8) The SA
  departures of :mod:`flight.wire.sdls` hold here too (ABM default and short ABMs, no counter
  wrap, the IV always advances, zero pad length octets).

| requirement | verified by |
|---|---|
| apply reproduces CryptoLib's protected TM frames byte for byte (auth. encryption) | tests/unit/wire/test_sdls_tm.py |
| process accepts CryptoLib's protected TM frame and returns its plaintext | tests/unit/wire/test_sdls_tm.py |
| authentication only: the MAC is the GMAC of the AAD span above, data in clear | tests/unit/wire/test_sdls_tm.py |
| packets -> Packetizer(reserve) -> apply -> process -> Depacketizer give the packets back, |   |
|   both services, random SA parameters, frame lengths, OCF or not | tests/unit/wire/test_sdls_tm.py |
| every single-bit flip of a protected frame is refused (FECF; MAC with the FECF redone, |   |
|   except in the OCF, which the MAC does not cover) | tests/unit/wire/test_sdls_tm.py |
| ``unverified`` reads an authentication-only frame's data without the key, never an encrypted one |   |
|   | tests/unit/wire/test_sdls_tm.py |
| replay, out of window, unknown SPI, inactive SA, wrong VC, no key, bad lengths: refused |   |
|   with their reason, receive state unchanged | tests/unit/wire/test_sdls_tm.py |
"""
from __future__ import annotations

import functools
import hmac
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from native import crc16_ccitt_false

from flight.wire.sdls import (SPI_SIZE, SdlsError, SdlsReason, SecurityAssociation, Service, full_counter, masked,
                              sa_key)
from flight.wire.tm_frame import (FECF_SIZE, FRAME_HEADER_SIZE, OCF_SIZE, TmFrame, TmFrameError, check_frame_length,
                                  fhp_is_valid)

GCM_TAG_SIZE = 16
KEY_CACHE_SIZE = 32


def reserve(sa: SecurityAssociation) -> tuple[int, int]:
    """(security header, security trailer) octets a frame protected under ``sa`` needs:
    ``Packetizer(..., reserve=reserve(sa))``."""
    return sa.header_size, sa.mac_len


@dataclass(frozen=True)
class ProcessedTm:
    """A frame ``process`` accepted: the frame without its security header and trailer (ready for
    :meth:`~flight.wire.tm_frame.Depacketizer.push`), and the SA values it carried."""

    frame: TmFrame
    spi: int
    iv: int
    arsn: int | None

    @property
    def data(self) -> bytes:
        return self.frame.data

    @property
    def ocf(self) -> bytes | None:
        return self.frame.ocf


@functools.lru_cache(maxsize=KEY_CACHE_SIZE)
def _gcm(key: bytes) -> AESGCM:
    """One AESGCM per key, so its key schedule is set up once, not once per frame."""
    return AESGCM(key)


def _check_sa(sa: SecurityAssociation, vcid: int) -> None:
    if not sa.active:
        raise SdlsError(SdlsReason.INACTIVE_SA, f"SA {sa.spi} is not active")
    if sa.vcid is not None and vcid != sa.vcid:
        raise SdlsError(SdlsReason.WRONG_CHANNEL, f"SA {sa.spi} is bound to VC {sa.vcid}, the frame is on VC {vcid}")


def _seal(sa: SecurityAssociation, key: bytes, prefix: bytes, data: bytes) -> bytes:
    """``prefix`` (the headers), then the data field (encrypted or clear), then the MAC."""
    nonce = sa.iv.to_bytes(sa.iv_len, "big")
    if sa.service is Service.AUTHENTICATED_ENCRYPTION:
        sealed = _gcm(key).encrypt(nonce, data, masked(prefix, sa.abm))        # ciphertext + 16-octet tag
        return prefix + sealed[:len(data) + sa.mac_len]
    clear = prefix + data
    return clear + _gcm(key).encrypt(nonce, b"", masked(clear, sa.abm))[:sa.mac_len]


def apply(frame: TmFrame, sa: SecurityAssociation, *, keys: Mapping[int, bytes] | None = None) -> bytes:
    """Protect a TM frame under ``sa`` (flight side) and advance the SA's IV and ARSN.

    ``frame`` comes from a packetizer made with ``reserve=reserve(sa)``: its data field already
    leaves room for the security header and trailer, so the result is ``frame.length`` octets,
    the channel's frame length. Returns the protected frame's octets, FECF included; nothing
    moves when it refuses."""
    _check_sa(sa, frame.vcid)
    key = sa_key(sa, keys)
    if frame.reserved != reserve(sa):
        raise SdlsError(SdlsReason.MALFORMED, f"the frame leaves {frame.reserved} octets for the security header "
                        f"and trailer, SA {sa.spi} needs {reserve(sa)}: make the packetizer with reserve=reserve(sa)")
    if sa.iv >= 1 << (8 * sa.iv_len) or (sa.arsn_len and sa.arsn >= 1 << (8 * sa.arsn_len)):
        raise SdlsError(SdlsReason.COUNTER_EXHAUSTED, f"SA {sa.spi}: IV or ARSN used up, the SA needs a new key")
    prefix = frame.pack_header() + sa.security_header(sa.iv, sa.arsn)
    body = _seal(sa, key, prefix, frame.data) + (frame.ocf or b"")
    sa.iv += 1
    if sa.arsn_len:
        sa.arsn += 1
    return body + crc16_ccitt_false(body).to_bytes(FECF_SIZE, "big")


def _decode(raw: bytes, frame_length: int, has_ocf: bool) -> TmFrame:
    """The frame as received (its data field still holds the security header and trailer)."""
    try:
        return TmFrame.decode(raw, frame_length, has_ocf)
    except TmFrameError as exc:
        raise SdlsError(SdlsReason.BAD_FRAME, str(exc)) from exc


def _lookup(outer: TmFrame, sas: Mapping[int, SecurityAssociation], frame_length: int,
            has_ocf: bool) -> SecurityAssociation:
    """The SA the frame names, active and on the frame's channel, whose fields fit the frame."""
    spi = int.from_bytes(outer.data[:SPI_SIZE], "big")
    sa = sas.get(spi)
    if sa is None:
        raise SdlsError(SdlsReason.UNKNOWN_SPI, f"no SA with SPI {spi}")
    _check_sa(sa, outer.vcid)
    try:
        size = check_frame_length(frame_length, has_ocf, sum(reserve(sa)))
    except ValueError as exc:
        raise SdlsError(SdlsReason.MALFORMED, f"SA {spi}: {exc}") from None
    if not fhp_is_valid(outer.first_header_pointer, size):
        raise SdlsError(SdlsReason.BAD_FRAME, f"first header pointer {outer.first_header_pointer:#x} outside "
                        f"a data field of {size} octets")
    return sa


def _counters(sa: SecurityAssociation, fields: bytes) -> tuple[int, int | None]:
    """The full IV and ARSN of the security header's ``fields`` (after the SPI), anti-replay checked."""
    sent_iv, sent_arsn = fields[:sa.iv_tx_len], fields[sa.iv_tx_len:sa.iv_tx_len + sa.arsn_tx_len]
    if any(fields[sa.iv_tx_len + sa.arsn_tx_len:]):
        raise SdlsError(SdlsReason.MALFORMED, f"SA {sa.spi}: nonzero pad length with GCM")
    arsn = None
    if sa.arsn_len:
        arsn = full_counter("ARSN", int.from_bytes(sent_arsn, "big"), sa.arsn_len, sa.arsn_tx_len,
                            sa.last_arsn, sa.window)
    iv = full_counter("IV", int.from_bytes(sent_iv, "big"), sa.iv_len, sa.iv_tx_len, sa.last_iv, sa.window)
    return iv, arsn


def _open(sa: SecurityAssociation, key: bytes, iv: int, raw: bytes, start: int, mac_start: int) -> bytes:
    """The data field (``raw[start:mac_start]``, decrypted if need be) when the MAC after it
    verifies; BAD_MAC otherwise."""
    nonce = iv.to_bytes(sa.iv_len, "big")
    mac = raw[mac_start:mac_start + sa.mac_len]
    body = raw[start:mac_start]
    try:
        if sa.service is Service.AUTHENTICATION:
            expected = _gcm(key).encrypt(nonce, b"", masked(raw[:mac_start], sa.abm))[:sa.mac_len]
            if not hmac.compare_digest(expected, mac):
                raise InvalidTag()
            return body
        if sa.mac_len == GCM_TAG_SIZE:
            return _gcm(key).decrypt(nonce, body + mac, masked(raw[:start], sa.abm))
        mode = modes.GCM(nonce, mac, min_tag_length=sa.mac_len)           # a truncated tag: AESGCM wants 16
        decryptor = Cipher(algorithms.AES(key), mode).decryptor()
        decryptor.authenticate_additional_data(masked(raw[:start], sa.abm))
        data = decryptor.update(body)
        decryptor.finalize()
        return data
    except InvalidTag:
        raise SdlsError(SdlsReason.BAD_MAC, f"SA {sa.spi}: MAC does not verify") from None


def process(raw: bytes | bytearray | memoryview, sas: Mapping[int, SecurityAssociation], frame_length: int,
            has_ocf: bool, *, keys: Mapping[int, bytes] | None = None) -> ProcessedTm:
    """Verify and open a protected TM frame (ground side); refuse it with an :class:`SdlsError`.

    Every check (length, FECF, frame header, SPI, SA state and channel, lengths, anti-replay,
    MAC) is done before anything is returned; the SA's receive state moves only when the frame
    is accepted. ValueError (not SdlsError) when ``frame_length`` itself is out of range."""
    raw = bytes(raw)
    outer = _decode(raw, frame_length, has_ocf)
    sa = _lookup(outer, sas, frame_length, has_ocf)
    key = sa_key(sa, keys)
    iv, arsn = _counters(sa, outer.data[SPI_SIZE:sa.header_size])
    start = FRAME_HEADER_SIZE + sa.header_size
    mac_start = frame_length - FECF_SIZE - (OCF_SIZE if has_ocf else 0) - sa.mac_len
    data = _open(sa, key, iv, raw, start, mac_start)
    inner = TmFrame.prechecked(outer.spacecraft_id, outer.vcid, outer.mc_frame_count, outer.vc_frame_count,
                               outer.first_header_pointer, data, outer.ocf, reserve(sa))  # checked by _lookup
    sa.last_iv = iv
    if arsn is not None:
        sa.last_arsn = arsn
    return ProcessedTm(inner, sa.spi, iv, arsn)


def unverified(raw: bytes | bytearray | memoryview, sa: SecurityAssociation, frame_length: int,
               has_ocf: bool) -> TmFrame:
    """The data of a frame under an authentication-only ``sa``, its MAC not checked: what a ground
    without the key can read (it must say its telemetry is unverified). The FECF and the frame's
    structure are checked; an encrypted frame is refused (KEY_UNAVAILABLE)."""
    outer = _decode(bytes(raw), frame_length, has_ocf)
    _lookup(outer, {sa.spi: sa}, frame_length, has_ocf)
    if sa.service is not Service.AUTHENTICATION:
        raise SdlsError(SdlsReason.KEY_UNAVAILABLE, f"SA {sa.spi} encrypts: no key, no data")
    data = outer.data[sa.header_size:len(outer.data) - sa.mac_len]
    return TmFrame(outer.spacecraft_id, outer.vcid, outer.mc_frame_count, outer.vc_frame_count,
                   outer.first_header_pointer, data, outer.ocf, reserve(sa))
