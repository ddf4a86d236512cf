"""TmSecurity: SDLS on the downlink: every TM frame sealed under the TM security association.

With ``[mission.link] tm_sdls`` on (authentication by default), comms' frames go down protected
(flight.wire.sdls_tm) by the SA ``tm_spi`` with the key the key file gives it, so a ground
refuses telemetry the spacecraft never sent. The SA's IV must never repeat under one key, across
a crash too: it is reserved ahead on disk (flight.wire.iv_reservation, ``RESERVATION_STEP``
frames at a time), and a restarted flight continues above every IV it used; the ground's TM
window (flight.wire.link.TM_WINDOW) covers the skip.

The TM SA's key is the one the key file gives at start. The key commands of the TC link change
the ring it keeps; the TM SA takes a new key when the flight restarts with a key file that maps
``tm_spi`` to it.

| requirement | verified by |
|---|---|
| the frames go down sealed; the ground's downlink opens them, refuses a forged or altered one |   |
|   | tests/unit/services/test_tm_security.py |
| a restarted flight's frames carry IVs above every IV sent before the crash | tests/unit/services/test_tm_security.py |
| a key file without the TM SA's key, or sharing the TC SA's key, is refused at preflight |   |
|   | tests/unit/services/test_tm_security.py |
"""
from __future__ import annotations

from pathlib import Path

from flight.wire import sdls_tm
from flight.wire.iv_reservation import IvReservation
from flight.wire.keyfile import KeyRing, KeyRingError
from flight.wire.link import LinkParameters
from flight.wire.tm_frame import TmFrame

RESERVATION_STEP = 1 << 16  # frames per save of the IV reservation: one sync per ~64 MB of 1,024-octet frames


class TmSecurity:
    """The TM SA, its key and its IV reservation; for comms' downlink thread."""

    def __init__(self, link: LinkParameters, keys: KeyRing, state_path: Path) -> None:
        key_id = keys.key_id_of(link.tm_spi)
        if link.authenticated and keys.sas.get(link.spi) == key_id:
            raise KeyRingError(f"SA {link.tm_spi} (TM) and SA {link.spi} (TC) both use key {key_id}; "
                               "each SA has a key of its own")
        if key_id not in keys.active_keys():
            raise KeyRingError(f"key {key_id} of SA {link.tm_spi} (TM) is not active")
        self.sa = link.tm_security_association(key_id)
        self.reserve = sdls_tm.reserve(self.sa)
        self._keys = {key_id: keys.active_keys()[key_id]}
        self._reservation = IvReservation(self.sa, state_path, RESERVATION_STEP)

    @classmethod
    def load(cls, link: LinkParameters, key_file: Path, state_path: Path) -> "TmSecurity | None":
        """The TM SA of ``link`` (None when ``tm_sdls`` is off); KeyRingError or ValueError with the
        reason on one line."""
        if not link.tm_authenticated:
            return None
        return cls(link, KeyRing.load(key_file), state_path)

    def seal(self, frame: TmFrame) -> bytes:
        """``frame`` (from a packetizer made with ``reserve``) protected, its IV reserved first."""
        self._reservation.before_use()
        return sdls_tm.apply(frame, self.sa, keys=self._keys)

    def close(self) -> None:
        self._reservation.close()
