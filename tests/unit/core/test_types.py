"""Tests of flight.core.types: encoding of typed values and their refusals; telemetry limits.

References are independent of the code under test: integers are encoded with ``int.to_bytes``,
floats with numpy's big-endian dtypes, strings by hand (length byte + UTF-8).
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from flight.core.types import (DataType, Field, Limits, ValueRejected, decode_fields, encode_fields, enum_label,
                               enumeration_of)

SETTINGS = settings(max_examples=60, deadline=None)

INTEGER_SIZES = {  # type -> (bytes, signed), from the type names
    DataType.U8: (1, False), DataType.U16: (2, False), DataType.U32: (4, False),
    DataType.U64: (8, False), DataType.I8: (1, True), DataType.I16: (2, True),
    DataType.I32: (4, True), DataType.I64: (8, True),
}
F32_MAX = float(np.finfo(np.float32).max)


def natural_range(t: DataType) -> tuple[int, int]:
    size, signed = INTEGER_SIZES[t]
    if signed:
        return -(1 << (8 * size - 1)), (1 << (8 * size - 1)) - 1
    return 0, (1 << (8 * size)) - 1


def reference_encoding(t: DataType, value) -> bytes:
    if t in INTEGER_SIZES:
        size, signed = INTEGER_SIZES[t]
        return int(value).to_bytes(size, "big", signed=signed)
    if t is DataType.F32:
        return np.array([value], dtype=">f4").tobytes()
    if t is DataType.F64:
        return np.array([value], dtype=">f8").tobytes()
    if t is DataType.BOOL:
        return b"\x01" if value else b"\x00"
    raw = value.encode("utf-8")
    return bytes([len(raw)]) + raw


def values_of(t: DataType) -> st.SearchStrategy:
    if t in INTEGER_SIZES:
        low, high = natural_range(t)
        return st.integers(low, high)
    if t is DataType.F32:
        return st.floats(width=32, allow_nan=False)
    if t is DataType.F64:
        return st.floats(allow_nan=False)
    if t is DataType.BOOL:
        return st.booleans()
    return st.text(max_size=80).filter(lambda s: len(s.encode("utf-8")) <= 255)


def same(a, b) -> bool:
    return a == b and type(a) is type(b) and (not isinstance(a, float)
                                              or math.copysign(1, a) == math.copysign(1, b))


# --- round trips ------------------------------------------------------------------------------
@pytest.mark.parametrize("data_type", list(DataType), ids=lambda t: t.name)
@SETTINGS
@given(data=st.data(), prefix=st.binary(max_size=5), suffix=st.binary(max_size=5))
def test_encode_decode_round_trip(data_type, data, prefix, suffix):
    value = data.draw(values_of(data_type))
    encoded = data_type.encode(value)
    assert encoded == reference_encoding(data_type, value)
    decoded, end = data_type.decode(prefix + encoded + suffix, len(prefix))
    assert same(decoded, value)
    assert end == len(prefix) + len(encoded)


@pytest.mark.parametrize("data_type", [DataType.F32, DataType.F64], ids=lambda t: t.name)
@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
def test_non_finite_floats_round_trip_without_a_range(data_type, value):
    decoded, _ = data_type.decode(data_type.encode(value))
    assert (math.isnan(decoded) and math.isnan(value)) or decoded == value


@SETTINGS
@given(st.floats(min_value=-F32_MAX, max_value=F32_MAX))
def test_f32_rounds_a_double_to_the_nearest_single(value):
    decoded, _ = DataType.F32.decode(DataType.F32.encode(value))
    assert decoded == float(np.float32(value))


@st.composite
def fields_and_values(draw):
    types = draw(st.lists(st.sampled_from(list(DataType)), max_size=6))
    fields = [Field(f"f{i}", t) for i, t in enumerate(types)]
    values = [draw(values_of(t)) for t in types]
    return fields, values


@SETTINGS
@given(fields_and_values())
def test_fields_round_trip_in_order(fields_values):
    fields, values = fields_values
    encoded = encode_fields(fields, values)
    assert encoded == b"".join(reference_encoding(f.type, v) for f, v in zip(fields, values))
    decoded, end = decode_fields(fields, encoded)
    assert all(same(d, v) for d, v in zip(decoded, values)) and len(decoded) == len(values)
    assert end == len(encoded)


@SETTINGS
@given(st.integers(-1000, 1000), st.integers(-1000, 1000), st.integers(-1000, 1000))
def test_declared_range_is_inclusive(low, high, value):
    f = Field("x", DataType.I16, low, high)
    if low <= value <= high:
        assert f.check(value) == value
    else:
        with pytest.raises(ValueRejected) as caught:
            f.check(value)
        assert caught.value.out_of_range


# --- refusals ---------------------------------------------------------------------------------
WRONG_TYPES = [
    (DataType.U8, "1"), (DataType.U8, 1.5), (DataType.I32, None), (DataType.U16, b"\x01"),
    (DataType.F32, "1.0"), (DataType.F64, True), (DataType.F64, None), (DataType.BOOL, 2),
    (DataType.BOOL, "true"), (DataType.BOOL, 0.5), (DataType.STRING, 5), (DataType.STRING, b"x"),
]


@pytest.mark.parametrize("data_type,value", WRONG_TYPES, ids=repr)
def test_wrong_python_type_is_refused_not_out_of_range(data_type, value):
    with pytest.raises(ValueRejected) as caught:
        data_type.encode(value)
    assert not caught.value.out_of_range


def test_bool_is_not_an_integer():
    accepted = []
    for data_type in INTEGER_SIZES:
        try:
            data_type.check(True)
            accepted.append(data_type.name)
        except ValueRejected:
            pass
    assert accepted == []


@pytest.mark.parametrize("data_type", list(INTEGER_SIZES), ids=lambda t: t.name)
def test_integers_outside_natural_range_are_out_of_range(data_type):
    low, high = natural_range(data_type)
    for value in (low - 1, high + 1, low - 10**20, high + 10**20):
        with pytest.raises(ValueRejected) as caught:
            data_type.encode(value)
        assert caught.value.out_of_range
    assert data_type.decode(data_type.encode(low))[0] == low
    assert data_type.decode(data_type.encode(high))[0] == high


def test_f32_overflow_and_long_strings_are_out_of_range():
    for value in (F32_MAX * 1.01, -F32_MAX * 1.01, 1e300):
        with pytest.raises(ValueRejected) as caught:
            DataType.F32.encode(value)
        assert caught.value.out_of_range
    assert DataType.STRING.encode("é" * 127)[0] == 254  # 254 bytes: fits
    with pytest.raises(ValueRejected) as caught:
        DataType.STRING.encode("é" * 128)  # 128 characters, 256 bytes
    assert caught.value.out_of_range


@pytest.mark.parametrize("data_type", [DataType.F32, DataType.F64], ids=lambda t: t.name)
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("bounds", [(0.0, None), (None, 1.0), (-1.0, 1.0)])
def test_non_finite_with_a_declared_range_is_out_of_range(data_type, value, bounds):
    f = Field("x", data_type, *bounds)
    with pytest.raises(ValueRejected) as caught:
        f.check(value)
    assert caught.value.out_of_range
    with pytest.raises(ValueRejected) as caught:
        decode_fields([f], reference_encoding(data_type, value))
    assert caught.value.out_of_range


@pytest.mark.parametrize("data_type", list(DataType), ids=lambda t: t.name)
@SETTINGS
@given(data=st.data())
def test_too_few_bytes_are_refused(data_type, data):
    encoded = reference_encoding(data_type, data.draw(values_of(data_type)))
    cut = data.draw(st.integers(0, len(encoded) - 1))
    offset = data.draw(st.integers(0, 3))
    with pytest.raises(ValueRejected) as caught:
        data_type.decode(b"\xaa" * offset + encoded[:cut], offset)
    assert not caught.value.out_of_range


def test_decoding_past_the_end_and_string_overrun_are_refused():
    with pytest.raises(ValueRejected):
        DataType.U32.decode(b"\x00\x00\x00\x01", 5)
    with pytest.raises(ValueRejected):
        DataType.STRING.decode(b"\x05abc")
    with pytest.raises(ValueRejected):
        DataType.STRING.decode(b"", 0)


@pytest.mark.parametrize("raw", [b"\x01\xff", b"\x02\xc3\x28", b"\x03\xed\xa0\x80", b"\x01\x80"])
def test_bad_utf8_is_refused(raw):
    with pytest.raises(ValueRejected) as caught:
        DataType.STRING.decode(raw)
    assert not caught.value.out_of_range


def test_bool_byte_must_be_zero_or_one():
    assert DataType.BOOL.decode(b"\x00") == (False, 1)
    assert DataType.BOOL.decode(b"\x01") == (True, 1)
    for byte in range(2, 256):
        with pytest.raises(ValueRejected) as caught:
            DataType.BOOL.decode(bytes([byte]))
        assert not caught.value.out_of_range


def test_decoded_values_are_range_checked_and_leftovers_refused():
    f = Field("level", DataType.U8, 10, 20)
    assert decode_fields([f], b"\x0a")[0] == [10]
    with pytest.raises(ValueRejected) as caught:
        decode_fields([f], b"\x15")  # 21
    assert caught.value.out_of_range
    with pytest.raises(ValueRejected) as caught:
        decode_fields([f], b"\x0a\x00")
    assert not caught.value.out_of_range
    assert decode_fields([f], b"\x0a\x00", exact=False) == ([10], 1)
    with pytest.raises(ValueRejected) as caught:
        encode_fields([f], [10, 11])
    assert not caught.value.out_of_range
    with pytest.raises(ValueRejected) as caught:
        encode_fields([f], [9])
    assert caught.value.out_of_range


def test_integral_floats_and_numpy_integers_are_coerced():
    assert same(DataType.I16.check(3.0), 3)
    assert same(DataType.U32.check(np.uint16(7)), 7)
    assert same(DataType.F32.check(2), 2.0)
    assert same(DataType.BOOL.check(1), True)


@SETTINGS
@given(st.sampled_from(list(DataType)), st.floats(allow_nan=False, allow_infinity=False),
       st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20))
def test_field_json_round_trip(data_type, low, high, description):
    f = Field("name", data_type, low, high, description)
    assert Field.from_json(f.to_json()) == f
    bare = Field("bare", data_type)
    assert Field.from_json(bare.to_json()) == bare


ENUMERATIONS = st.dictionaries(st.integers(0, 255), st.from_regex(r"[A-Z][A-Z_]{0,11}", fullmatch=True),
                               min_size=1, max_size=8).map(lambda names: tuple(sorted(names.items())))


@SETTINGS
@given(ENUMERATIONS, st.integers(0, 255))
def test_an_enumerated_field_takes_only_its_values(enumeration, value):
    f = Field("mode", DataType.U8, enumeration=enumeration)
    named = dict(enumeration)
    if value in named:
        assert f.check(value) == value
        assert enum_label(enumeration, value) == named[value]
    else:
        with pytest.raises(ValueRejected, match="is not one of") as refused:
            f.check(value)
        assert refused.value.out_of_range
        assert enum_label(enumeration, value) == str(value)
    assert Field.from_json(f.to_json()) == f


def test_enumeration_of_an_int_enum_is_its_members_in_value_order():
    import enum

    class Light(enum.IntEnum):
        RED = 2
        GREEN = 0
        AMBER = 1

    assert enumeration_of(Light) == ((0, "GREEN"), (1, "AMBER"), (2, "RED"))


# --- telemetry limits -----------------------------------------------------------------------
def test_limits_classify_by_hand():
    health = Limits(yellow_high=0, red_high=1)  # Health.UnresponsiveComponents
    assert [health.classify(v) for v in (0, 1, 2)] == ["ok", "yellow", "red"]
    band = Limits(red_low=-10, yellow_low=0, yellow_high=50, red_high=60)
    assert [band.classify(v) for v in (-11, -10, -0.5, 0, 25, 50, 50.5, 60, 61)] == [
        "red", "yellow", "yellow", "ok", "ok", "ok", "yellow", "yellow", "red"]
    assert Limits().classify(1e300) == "ok"


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(-100, 100), min_size=4, max_size=4),
       st.lists(st.booleans(), min_size=4, max_size=4), st.integers(-150, 150))
def test_limits_classify_property(bounds, present, value):
    red_low, yellow_low, yellow_high, red_high = sorted(bounds)
    limits = Limits(*(b if p else None for b, p in zip(
        (red_low, yellow_low, yellow_high, red_high), present)))
    below = lambda bound: bound is not None and value < bound  # noqa: E731
    above = lambda bound: bound is not None and value > bound  # noqa: E731
    if below(limits.red_low) or above(limits.red_high):
        expected = "red"
    elif below(limits.yellow_low) or above(limits.yellow_high):
        expected = "yellow"
    else:
        expected = "ok"
    assert limits.classify(value) == expected
