"""Run one pipeline stage in a fresh, non-daemonic, spawned process (``isolate_stages=true``).

Why not ``multiprocessing.Pool``: pool workers are daemonic, and a daemonic process may not start
children. vLLM starts its engine core and tensor-parallel workers as child processes, so inside a
pool worker it dies with "daemonic processes are not allowed to have children" before any GPU
work. A plain ``Process(daemon=False)`` started with ``spawn`` (never ``fork``: CUDA cannot be
re-initialised in a forked child) may start children, and everything the stage allocated, GPU
memory included, is returned to the system when it exits.

The child sends back ``("ok", result)`` or ``("error", formatted traceback, exception)`` over a
pipe. The parent re-raises the stage's own exception (same type, so callers catch what they would
in-process) with the child's traceback added as a note; an exit without either message (killed,
segfault, ``os._exit``, out of memory) raises ``StageProcessDied`` with the exit code.
Test: ``pytest tests/test_isolated_stages.py``.
"""

from __future__ import annotations

import multiprocessing
import pickle
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any


class StageProcessDied(RuntimeError):
    """The stage's process ended without returning a result or an error (killed, crashed)."""


class StageFailed(RuntimeError):
    """The stage raised an exception that could not be sent back; the message has its traceback."""


def _child(conn: Connection, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    try:
        result = fn(*args)
    except BaseException as err:  # everything, KeyboardInterrupt included, goes back
        tb = traceback.format_exc()
        try:
            payload = pickle.dumps(err)
        except Exception:  # an exception that does not pickle still reports its traceback
            payload = b""
        conn.send(("error", tb, payload))
    else:
        conn.send(("ok", result))
    finally:
        conn.close()


def run_in_process(fn: Callable[..., Any], *args: Any, name: str = "ssd-stage") -> Any:
    """Call ``fn(*args)`` in a spawned non-daemonic process and return its result.

    ``fn`` must be a module-level function and ``args`` picklable (spawn pickles them).

    Raises:
        Exception: what ``fn`` raised, with the child's traceback as a note (``StageFailed``
            holding that traceback when the exception does not pickle).
        StageProcessDied: the process exited without sending a result (exit code in the message).
    """
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(child, fn, args), name=name, daemon=False)
    proc.start()
    child.close()  # only the child writes; EOF on the parent's end then means the child is gone
    try:
        message = parent.recv()
    except EOFError:
        message = None
    finally:
        parent.close()
        proc.join()
    if message is None:
        raise StageProcessDied(
            f"stage process {name} (pid {proc.pid}) exited with code {proc.exitcode} "
            "before returning a result (killed, out of memory, or crashed in native code)"
        )
    if message[0] == "ok":
        return message[1]
    _, tb, payload = message
    try:
        original = pickle.loads(payload) if payload else None
    except Exception:
        original = None
    if isinstance(original, BaseException):
        original.add_note(f"raised in stage process {name} (pid {proc.pid}):\n{tb}")
        raise original
    raise StageFailed(f"stage process {name} (pid {proc.pid}) raised:\n{tb}")
