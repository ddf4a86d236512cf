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
    SCHEDULE_FULL = 20          # ST[11]: the activities would not fit the schedule's capacity
    RELEASE_TIME_PASSED = 21    # ST[11]: a release time (inserted or shifted) earlier than now + margin
    UNKNOWN_REQUEST = 22        # ST[11]: no scheduled activity has this request id
    DUPLICATE_REQUEST = 23      # ST[11]: an activity with this request id is already scheduled
    BAD_ACTIVITY = 24           # ST[11]: an activity's request is not a valid TC, or is an ST[11] request
    UNKNOWN_DEFINITION = 25     # ST[12]/ST[19]: no monitoring or event-action definition has this id or key
    DUPLICATE_DEFINITION = 26   # ST[12]/ST[19]: a definition with this id or key exists already
    DEFINITION_ENABLED = 27     # ST[12]/ST[19]: deleting what is enabled: disable it first
    DEFINITIONS_FULL = 28       # ST[12]/ST[19]: the definitions would not fit the list
    UNKNOWN_SEQUENCE = 29       # ST[21]: no request sequence is loaded under this id
    DUPLICATE_SEQUENCE = 30     # ST[21]: a request sequence with this id is loaded already
    SEQUENCES_FULL = 31         # ST[21]: too many sequences or steps, or more than the store holds
    SEQUENCE_ACTIVE = 32        # ST[21]: unloading or activating a sequence that is running
    BAD_STEP = 33               # ST[21]: a step's request is not a valid TC, or is an ST[21] request
    FILE_NOT_FOUND = 34         # ST[23]: no such file or repository
    PATH_REFUSED = 35           # ST[23]: absolute, with '..', outside the run directory, or not a plain name
    FILE_IN_USE = 36            # ST[23]: the file is being sent, or a file downlink is going already
    MODEL_CRC_MISMATCH = 40     # model update: the file's CRC-32C is not the one the command gives
    MODEL_UNLOADABLE = 41       # model update: ONNX Runtime cannot load the file
    MODEL_SIGNATURE = 42        # model update: inputs or outputs (names, types, shapes) differ from the flying model's
    MODEL_TEST_VECTOR = 43      # model update: no test vector beside the model, or a wrong answer to it


class PacketError(Exception):
    """A packet refused for a :class:`FailureCode`."""

    def __init__(self, code: FailureCode, message: str) -> None:
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message
