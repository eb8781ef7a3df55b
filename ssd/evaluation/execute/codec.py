"""Values crossing the trust boundary as data: a tagged JSON encoding of exact builtin types.

The untrusted child encodes what the candidate's function returned; the trusted side decodes it.
Only exact ``None``, ``bool``, ``int``, ``float``, ``complex``, ``str``, ``bytes``, ``list``,
``tuple``, ``dict``, ``set`` and ``frozenset`` are admitted (``type(x) is int``, never
``isinstance``): an int or str subclass with its own ``__eq__``, an always-equal object, a
generator or a numpy array cannot be encoded, and the decoder builds fresh builtin objects from
text, so no code of the candidate's can run on the trusted side when the test compares values.
Nothing from the untrusted side is ever unpickled. Size (bytes of text) and nesting depth are
capped on both sides; the decoder re-checks everything (the child may send any bytes it likes).

Encoding: str, finite float, bool, None and ints up to 4000 digits are themselves in JSON; every
JSON array is a tagged value ``[tag, ...]``: ``l`` list, ``t`` tuple, ``d`` dict (keys and values
alternate), ``s`` set, ``f`` frozenset, ``F`` non-finite float (``"nan"``/``"inf"``/``"-inf"``),
``I`` big int (hex text), ``c`` complex (two floats), ``b`` bytes (hex text). JSON objects are
never produced and are refused.
Tests: ``pytest tests/test_execute_codec.py``.
"""

from __future__ import annotations

import json
import math
from typing import Any

MAX_BYTES = 16 << 20  # encoded text of one value
MAX_DEPTH = 64  # nesting of containers
_BIG_INT_BITS = 13_000  # about 4000 decimal digits: JSON's int text limit is 4300


class CodecError(ValueError):
    """A value that may not cross the boundary (wrong type, too big, too deep, malformed)."""


def _encode(value: Any, depth: int) -> Any:
    kind = type(value)
    if value is None or kind is bool or kind is str:
        return value
    if kind is int:
        if value.bit_length() > _BIG_INT_BITS:
            return ["I", hex(value)]
        return value
    if kind is float:
        return value if math.isfinite(value) else ["F", repr(value)]
    if depth >= MAX_DEPTH:
        raise CodecError(f"nested deeper than {MAX_DEPTH}")
    depth += 1
    if kind is list or kind is tuple:
        return ["l" if kind is list else "t", *(_encode(v, depth) for v in value)]
    if kind is dict:
        items: list[Any] = ["d"]
        for key, item in value.items():
            items += (_encode(key, depth), _encode(item, depth))
        return items
    if kind is set or kind is frozenset:
        return ["s" if kind is set else "f", *(_encode(v, depth) for v in value)]
    if kind is complex:
        return ["c", _encode(value.real, depth), _encode(value.imag, depth)]
    if kind is bytes:
        return ["b", value.hex()]
    raise CodecError(f"type {kind.__name__!r} cannot cross the sandbox boundary")


def encode(value: Any) -> str:
    """JSON text of ``value``; CodecError for anything but exact builtin data within the caps."""
    try:
        text = json.dumps(_encode(value, 0), ensure_ascii=False, separators=(",", ":"))
    except RecursionError as exc:  # a self-containing list
        raise CodecError("nested too deep") from exc
    if len(text) > MAX_BYTES:
        raise CodecError(f"encoded value larger than {MAX_BYTES} bytes")
    return text


def _refuse_object(pairs: Any) -> Any:
    raise CodecError("JSON objects are not part of the encoding")


def _decode(node: Any, depth: int) -> Any:
    kind = type(node)
    if node is None or kind is bool or kind is str or kind is int or kind is float:
        return node
    if kind is not list or not node or type(node[0]) is not str:
        raise CodecError("malformed value")
    if depth >= MAX_DEPTH:
        raise CodecError(f"nested deeper than {MAX_DEPTH}")
    depth += 1
    tag, rest = node[0], node[1:]
    if tag == "l":
        return [_decode(v, depth) for v in rest]
    if tag == "t":
        return tuple(_decode(v, depth) for v in rest)
    if tag == "d":
        if len(rest) % 2:
            raise CodecError("malformed dict")
        values = [_decode(v, depth) for v in rest]
        try:
            return dict(zip(values[::2], values[1::2], strict=True))
        except TypeError as exc:  # an unhashable key
            raise CodecError(str(exc)) from exc
    if tag in ("s", "f"):
        try:
            items = [_decode(v, depth) for v in rest]
            return set(items) if tag == "s" else frozenset(items)
        except TypeError as exc:
            raise CodecError(str(exc)) from exc
    if tag == "F" and len(rest) == 1 and rest[0] in ("nan", "inf", "-inf"):
        return float(rest[0])
    if tag == "I" and len(rest) == 1 and type(rest[0]) is str:
        try:
            return int(rest[0], 16)
        except ValueError as exc:
            raise CodecError("malformed big int") from exc
    if tag == "c" and len(rest) == 2:
        real, imag = _decode(rest[0], depth), _decode(rest[1], depth)
        if type(real) is not float or type(imag) is not float:
            raise CodecError("malformed complex")
        return complex(real, imag)
    if tag == "b" and len(rest) == 1 and type(rest[0]) is str:
        try:
            return bytes.fromhex(rest[0])
        except ValueError as exc:
            raise CodecError("malformed bytes") from exc
    raise CodecError(f"unknown tag {tag[:10]!r}")


def decode(text: str | bytes) -> Any:
    """Fresh builtin objects from ``encode``'s text; CodecError for anything else."""
    if len(text) > MAX_BYTES:
        raise CodecError(f"encoded value larger than {MAX_BYTES} bytes")
    try:
        node = json.loads(text, object_pairs_hook=_refuse_object)
    except CodecError:
        raise
    except (ValueError, RecursionError) as exc:
        raise CodecError(f"malformed JSON: {str(exc)[:100]}") from exc
    return _decode(node, 0)
