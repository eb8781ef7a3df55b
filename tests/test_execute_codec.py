"""The boundary codec: exact builtin data round-trips; everything else is refused on both sides.

Run: ``pytest tests/test_execute_codec.py -q`` (pure Python, well under a second).
"""

from __future__ import annotations

import json
import math

import pytest

from ssd.evaluation.execute.codec import MAX_BYTES, MAX_DEPTH, CodecError, decode, encode

VALUES = [
    None,
    True,
    0,
    -(10**5000),
    1.5,
    -0.0,
    float("inf"),
    "text\n\u2028é",
    b"\x00\xff",
    [1, [2, (3,)]],
    (1, "a"),
    {"a": 1, 2: [3], (4, 5): None, None: {1}},
    {1, 2},
    frozenset({"x"}),
    1 + 2j,
    [],
    (),
    {},
]


@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__)
def test_builtin_values_round_trip_with_their_exact_types(value):
    back = decode(encode(value))
    assert back == value and type(back) is type(value)


def test_nan_round_trips():
    assert math.isnan(decode(encode(float("nan"))))


class Equal:
    def __eq__(self, other):
        return True


class Int(int):
    pass


class Str(str):
    pass


class Lst(list):
    pass


@pytest.mark.parametrize("value", [Equal(), Int(3), Str("a"), Lst(), (x for x in []), [Int(1)]])
def test_non_builtin_values_are_refused_by_the_encoder(value):
    with pytest.raises(CodecError, match="cannot cross"):
        encode(value)


def test_caps_on_depth_and_size():
    nested: list = []
    for _ in range(MAX_DEPTH + 1):
        nested = [nested]
    with pytest.raises(CodecError, match="deeper"):
        encode(nested)
    loop: list = []
    loop.append(loop)
    with pytest.raises(CodecError):
        encode(loop)
    with pytest.raises(CodecError, match="larger"):
        encode("x" * (MAX_BYTES + 1))


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 1}',  # JSON objects are not part of the encoding
        '["zz", 1]',  # unknown tag
        '["d", 1]',  # odd dict
        '["d", ["l"], 1]',  # unhashable key
        '["s", ["l"]]',
        '["c", 1, 2]',  # complex parts must be floats
        '["I", "xyz"]',
        "[" * 100_000,  # deeper than json itself can go
        "1" * 5000,  # an int text beyond Python's digit limit
        "not json",
        "[]",
        json.dumps(["l"] * 1) * 2,
    ],
)
def test_the_decoder_refuses_anything_else(text):
    with pytest.raises(CodecError):
        decode(text)


def test_decoder_depth_cap():
    text = '["l",' * (MAX_DEPTH + 1) + "1" + "]" * (MAX_DEPTH + 1)
    with pytest.raises(CodecError, match="deeper"):
        decode(text)
