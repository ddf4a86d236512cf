"""The link's parameters: what the flight and any ground must agree on to talk to each other.

The topology's ``[mission.link]`` table sets them once for the mission (:data:`LINK_SETTINGS`,
checked when the topology loads); the flight's TC link and comms read them, and the dictionary
carries every one of them except the key file (:func:`public`), so a ground configures itself
from the dictionary and its own copy of the key file (flight.wire.keyfile).

Uplink: TC transfer frames (flight.wire.tc_frame) on one virtual channel ``tc_vcid``, each with a
segment header (MAP id ``tc_map_id``, unsegmented) and a FECF, at most ``tc_frame_max`` octets;
COP-1 (flight.wire.cop1) with a FARM window of ``farm_window``. With ``sdls = "on"`` (the default)
every Type-A/B frame is protected by the security association ``spi`` (flight.wire.sdls):
AES-256-GCM, ``sdls_service`` authenticated encryption or authentication only, the IV and ARSN
lengths and the MAC length given here, the anti-replay window ``sdls_window``. Type-C frames (COP-1
Unlock and Set V(R)) travel unprotected, as CryptoLib and 232.0-B-3 have them.

Downlink: TM transfer frames (flight.wire.tm_frame) of ``tm_frame_length`` octets, with the CLCW
in the OCF and a FECF, on four virtual channels: :data:`TM_REALTIME` (housekeeping, events,
verification and other reports), :data:`TM_PRODUCTS` (ST[200] inference products) and
:data:`TM_PLAYBACK` (packets that waited in the store longer than ``playback_after_s`` of mission
time, e.g. while the ground was away); CFDP PDUs (file transfer, flight.services.file_transfer) go
on :data:`TM_FILES`, each in a space packet of APID ``file_apid``, which is also the APID of the
PDUs going up in TC frames. When the CLCW changes and no packet is waiting, a frame
of idle data on :data:`TM_IDLE` carries it at once, so COP-1 need not wait for telemetry. With
``tm_sdls`` other than "off" (authentication, the default) every TM frame is protected by its own
security association ``tm_spi`` (flight.wire.sdls_tm), with the IV and MAC lengths of the TC SA,
no ARSN, and an anti-replay window of :data:`TM_WINDOW`: frames lost on the way down and a flight
restart (which skips to IVs it reserved ahead) must not shut the ground out, so the ground takes
any IV above the last it accepted, up to 2^32 ahead.

| requirement | verified by |
|---|---|
| a bad value is refused with one line naming it; FARM window even | tests/unit/wire/test_link.py |
| the SA built from the settings has the configured lengths and window | tests/unit/wire/test_link.py |
| the TM SA has its own SPI (the table is refused with one line otherwise) and a 2^32 window |   |
|   | tests/unit/wire/test_link.py |
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from flight.core.settings import Setting
from flight.wire.sdls import MAC_SIZES, SecurityAssociation, Service

TM_REALTIME = 0
TM_PRODUCTS = 1
TM_PLAYBACK = 2
TM_FILES = 3     # CFDP PDUs (flight.services.file_transfer): not stored, sent only while the transmitter is on
TM_IDLE = 7  # frames of idle data only, sent to carry a changed CLCW when nothing else goes down
TM_WINDOW = 1 << 32
TM_VIRTUAL_CHANNELS = {TM_REALTIME: "realtime", TM_PRODUCTS: "products", TM_PLAYBACK: "playback",
                       TM_FILES: "files"}
SERVICES = {"authenticated_encryption": Service.AUTHENTICATED_ENCRYPTION,
            "authentication": Service.AUTHENTICATION}


def _even(window: int) -> str | None:
    return None if window % 2 == 0 else "the FARM-1 window W is even (CCSDS 232.1-B-2)"


def check_link(link: Mapping[str, Any]) -> str | None:
    """The table as a whole: the TM SA is not the TC SA (each direction keys its own GCM nonces)."""
    if link["tm_sdls"] != "off" and link["sdls"] == "on" and link["tm_spi"] == link["spi"]:
        return f"tm_spi and spi are both {link['spi']}: the TM SA is an SA of its own"
    if link["flight_entity_id"] == link["ground_entity_id"]:
        return f"flight_entity_id and ground_entity_id are both {link['flight_entity_id']}: CFDP needs two entities"
    return None


LINK_SETTINGS = {
    "spacecraft_id": Setting(int, 66, 0, 1023, description="the spacecraft id in every TC and TM frame"),
    "tc_vcid": Setting(int, 0, 0, 63, description="the TC virtual channel"),
    "tc_map_id": Setting(int, 0, 0, 63, description="the MAP id in each TC frame's segment header"),
    "tc_frame_max": Setting(int, 1024, 64, 1024, description="octets; the largest TC frame either end sends"),
    "farm_window": Setting(int, 10, 2, 254, check=_even, description="FARM-1 sliding window width W"),
    "tm_frame_length": Setting(int, 1024, 64, 2048, description="octets of every TM frame"),
    "playback_after_s": Setting(float, 10.0, 0.0, 1e6,
                                description="mission seconds a TM packet may wait before it goes down "
                                            "on the playback VC instead of its own"),
    "sdls": Setting(str, "on", choices=("on", "off"),
                    description="SDLS on the TC channel; 'off' runs the uplink unauthenticated (said loudly)"),
    "sdls_service": Setting(str, "authenticated_encryption", choices=tuple(SERVICES),
                            description="AES-256-GCM: encrypt and authenticate, or authenticate only"),
    "spi": Setting(int, 1, 1, 65534, description="the security parameter index of the TC SA"),
    "iv_length": Setting(int, 12, 12, 16, description="octets of the GCM IV, all sent"),
    "arsn_length": Setting(int, 0, 0, 8, description="octets of the anti-replay sequence number (0: the IV "
                                                     "is the counter)"),
    "mac_length": Setting(int, 16, choices=tuple(sorted(MAC_SIZES - {4})), description="octets of the MAC"),
    "sdls_window": Setting(int, 64, 1, 65535,
                           description="anti-replay window: how far above the last accepted IV/ARSN a "
                                       "frame may be; at least the ground's FOP window x transmission limit"),
    "tm_sdls": Setting(str, "authentication", choices=("off", *SERVICES),
                       description="SDLS on every TM frame: AES-256-GCM authentication (data in clear), "
                                   "authenticated encryption, or off"),
    "tm_spi": Setting(int, 2, 1, 65534, description="the security parameter index of the TM SA"),
    "key_file": Setting(str, "keys/flight.json",
                        description="the key file (flight.wire.keyfile), relative to the run directory"),
    "file_apid": Setting(int, 1000, 0, 2046, description="the APID of the space packets carrying CFDP PDUs, both "
                                                      "ways (no secondary header)"),
    "flight_entity_id": Setting(int, 1, 0, 65535, description="the flight's CFDP entity id"),
    "ground_entity_id": Setting(int, 2, 0, 65535, description="the ground's CFDP entity id"),
}


@dataclass(frozen=True)
class LinkParameters:
    """The checked ``[mission.link]`` table, typed."""

    spacecraft_id: int = 66
    tc_vcid: int = 0
    tc_map_id: int = 0
    tc_frame_max: int = 1024
    farm_window: int = 10
    tm_frame_length: int = 1024
    playback_after_s: float = 10.0
    sdls: str = "on"
    sdls_service: str = "authenticated_encryption"
    spi: int = 1
    iv_length: int = 12
    arsn_length: int = 0
    mac_length: int = 16
    sdls_window: int = 64
    tm_sdls: str = "authentication"
    tm_spi: int = 2
    key_file: str = "keys/flight.json"
    file_apid: int = 1000
    flight_entity_id: int = 1
    ground_entity_id: int = 2

    @classmethod
    def of(cls, mission: Mapping[str, Any]) -> "LinkParameters":
        """The link the mission's settings describe (defaults where they are silent)."""
        return cls(**mission.get("link", {}))

    @property
    def authenticated(self) -> bool:
        return self.sdls == "on"

    def security_association(self, key_id: int) -> SecurityAssociation:
        """The TC SA these parameters describe, keyed by ``key_id`` (keys come from the key file)."""
        return SecurityAssociation(self.spi, SERVICES[self.sdls_service], key_id=key_id,
                                   iv_len=self.iv_length, arsn_len=self.arsn_length,
                                   mac_len=self.mac_length, window=self.sdls_window, vcid=self.tc_vcid)

    @property
    def tm_authenticated(self) -> bool:
        return self.tm_sdls != "off"

    def tm_security_association(self, key_id: int) -> SecurityAssociation:
        """The TM SA (flight.wire.sdls_tm), keyed by ``key_id``; on no VC in particular: it protects all."""
        return SecurityAssociation(self.tm_spi, SERVICES[self.tm_sdls], key_id=key_id, iv_len=self.iv_length,
                                   mac_len=self.mac_length, window=TM_WINDOW)

    def public(self) -> dict[str, Any]:
        """Everything a ground needs but the keys: the dictionary's ``link`` section."""
        doc = {k: v for k, v in vars(self).items() if k != "key_file"}
        doc["tm_virtual_channels"] = {name: vcid for vcid, name in TM_VIRTUAL_CHANNELS.items()}
        return doc

    @classmethod
    def from_public(cls, doc: Mapping[str, Any]) -> "LinkParameters":
        """The parameters a dictionary's ``link`` section carries."""
        return cls(**{k: v for k, v in doc.items() if k != "tm_virtual_channels"})
