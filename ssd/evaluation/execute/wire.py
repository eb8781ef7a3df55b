"""Framing between the trusted pool and its sandbox servers: length-prefixed JSON messages.

Both ends are trusted processes, yet nothing on this channel is pickled: the server relays data
that came from candidates, and JSON can only ever build plain data.
"""

from __future__ import annotations

import json
import os
import struct
from typing import Any


def write_message(fd: int, message: Any) -> None:
    data = json.dumps(message, ensure_ascii=False).encode("utf-8", "surrogatepass")
    view = memoryview(struct.pack("<Q", len(data)) + data)
    while view:
        view = view[os.write(fd, view) :]


def _read_exact(fd: int, size: int) -> bytes | None:
    chunks, remaining = [], size
    while remaining:
        chunk = os.read(fd, min(remaining, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def read_message(fd: int) -> Any:
    """The next message, or None at end of stream. Reads exactly one message, never ahead."""
    header = _read_exact(fd, 8)
    if header is None:
        return None
    data = _read_exact(fd, struct.unpack("<Q", header)[0])
    if data is None:
        return None
    return json.loads(data.decode("utf-8", "surrogatepass"))
