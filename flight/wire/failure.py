"""Failure codes carried by ST[1] verification failure reports, one per distinct cause.

A code is a 16-bit enumeration in the failure notice of TM[1,2], TM[1,4] and TM[1,8]. The
dictionary lists them so the ground can name them.
"""
from __future__ import annotations

import enum


class FailureCode(enum.IntEnum):
    """Why a telecommand was refused or failed."""

    CRC_MISMATCH = 1            # packet error control does not match the contents
    TRUNCATED = 2               # shorter than the headers, or shorter than its length field says
    LENGTH_MISMATCH = 3         # longer than its length field says
    OVERSIZED = 4               # larger than the configured maximum TC size
    BAD_HEADER = 5              # not version 0, not a TC, no secondary header, or not PUS-C
    UNKNOWN_APID = 6
    UNKNOWN_SERVICE = 7
    UNKNOWN_SUBTYPE = 8
    UNKNOWN_COMMAND = 9         # ST[8] function id not in the dictionary
    BAD_ARGUMENTS = 10          # wrong length or type of application data
    ARGUMENT_OUT_OF_RANGE = 11
    UNKNOWN_PARAMETER = 12
    PARAMETER_OUT_OF_RANGE = 13
    EXECUTION_FAILED = 14       # the handler refused the command (its reason is in the event)
    MULTIPART_MESSAGE = 15      # a ZeroMQ message of more than one frame (one message = one packet)
    INVALID_STATE = 16          # refused by the state it finds (e.g. powering off a card that is off)
    BUSY = 17                   # the component cannot take the work now (its queue is full)
    NOT_ENABLED = 18            # test equipment (fault injection) this configuration does not enable
    INTERNAL_ERROR = 19         # the work raised: contained, reported, the flight goes on


class PacketError(Exception):
    """A packet refused for a :class:`FailureCode`."""

    def __init__(self, code: FailureCode, message: str) -> None:
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message
