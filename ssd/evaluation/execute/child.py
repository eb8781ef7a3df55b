"""UNTRUSTED side: what runs in the candidate's process, forked from the sandbox server.

``enter`` (still trusted code, run right after fork) locks the process down: new session,
only fds 0-4, rlimits, an empty capability bounding set, the throw-away uid, NO_NEW_PRIVS, the
seccomp deny-list. From then on everything in this process is the candidate's to corrupt, so
nothing here decides a verdict and nothing here is secret:

- HUMANEVAL: the program (prompt + completion, without the tests) runs as ``__main__``; then the
  child answers calls: it reads encoded arguments on fd 4, calls the entry point and writes the
  encoded result on fd 3 (``codec``). The trusted judge runs the tests and compares.
- STDIN / FUNCTIONAL: it runs each test's input and writes the raw output on fd 3; the trusted
  pool compares and writes ``c`` on fd 4 to go on.

The candidate may write anything on fd 3: the trusted side reads only data from it.
"""

from __future__ import annotations

import io
import json
import math
import os
import signal
import sys
from collections.abc import Sequence
from typing import Any

if __package__:
    from . import codec, seccomp, wire
else:  # loaded by the sandbox server as a top-level module
    import codec  # type: ignore[no-redef]
    import seccomp  # type: ignore[no-redef]
    import wire  # type: ignore[no-redef]

VERDICT_FD, CONTROL_FD = 3, 4
HUMANEVAL, STDIN, FUNCTIONAL = "humaneval", "stdin", "functional"
_PR_SET_PDEATHSIG, _PR_CAPBSET_DROP, _PR_SET_NO_NEW_PRIVS = 1, 24, 38

# What LiveCodeBench puts in front of every stdin/functional program: solutions may rely on it.
LCB_PRELUDE_MODULES = (
    "string re datetime collections heapq bisect copy math random statistics itertools functools "
    "operator io sys json builtins typing"
).split()
LCB_PRELUDE = (
    "".join(f"from {m} import *\n" for m in LCB_PRELUDE_MODULES)
    + "".join(f"import {m}\n" for m in LCB_PRELUDE_MODULES if m != "builtins")
    + "sys.setrecursionlimit(50000)\n"
)
prelude_namespace: dict[str, Any] = {}  # LCB_PRELUDE run once by the server; children copy it


def enter(cfg: dict[str, Any], workdir: str, fds: Sequence[int], libc: Any) -> None:
    """Trusted set-up in the freshly forked child, before its job exists (the server forks the
    next child while the pool is busy). ``fds`` become 0, 1, 2 (stdin, stdout, stderr),
    3 (results, write) and 4 (the job, then calls / go-ons, read)."""
    import fcntl
    import resource

    os.setsid()
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 64) for fd in fds]  # no clash while renumbering
    for target, fd in enumerate(high):
        os.dup2(fd, target)
    os.closerange(len(high), 1 << 16)
    os.chdir(workdir)
    os.umask(0o077)
    limits = {
        resource.RLIMIT_AS: (cfg["memory_bytes"],) * 2,
        resource.RLIMIT_FSIZE: (cfg["max_output_bytes"],) * 2,
        resource.RLIMIT_NOFILE: (cfg["max_open_files"],) * 2,
        resource.RLIMIT_CORE: (0, 0),
    }
    if cfg["drop_uid"]:  # per-uid count: meaningful only for our throw-away uid
        limits[resource.RLIMIT_NPROC] = (cfg["max_processes"],) * 2
    for which, value in limits.items():
        resource.setrlimit(which, value)
    os.environ.clear()
    os.environ.update(cfg["env"])
    sys.stdin = io.TextIOWrapper(open(0, "rb", closefd=False), encoding="utf-8")
    sys.stdout = io.TextIOWrapper(open(1, "wb", closefd=False), encoding="utf-8")
    sys.stderr = io.TextIOWrapper(open(2, "wb", closefd=False), encoding="utf-8")
    # The originals point at the server's pipes: code that restores them must get ours.
    sys.__stdin__, sys.__stdout__, sys.__stderr__ = sys.stdin, sys.stdout, sys.stderr  # type: ignore[misc]


def receive_job(cfg: dict[str, Any], libc: Any) -> dict[str, Any]:
    """Wait for the job on fd 4, cap CPU time, then drop every privilege: capability bounding
    set, uid, NO_NEW_PRIVS, seccomp. Nothing of the candidate has run before this returns."""
    import resource

    job = wire.read_message(CONTROL_FD)
    if not isinstance(job, dict):
        os._exit(0)
    cpu = math.ceil(job["timeout"] * max(1, len(job.get("inputs", [])))) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    if cfg["drop_uid"]:
        for cap in range(cfg["cap_last"] + 1):  # no capability can come back through exec
            libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0)
        uid = cfg["uid"]
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)  # a non-zero uid: permitted and effective caps are cleared
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        os._exit(121)
    if cfg.get("seccomp") and not seccomp.install(libc, cfg["seccomp"]):
        os._exit(122)
    return {**job, "max_output_bytes": cfg["max_output_bytes"]}


def _send(message: dict[str, Any]) -> None:
    data = (json.dumps(message, ensure_ascii=False) + "\n").encode("utf-8", "replace")
    while data:
        data = data[os.write(VERDICT_FD, data) :]


def _error(exc: BaseException, index: int | None) -> dict[str, Any]:
    import traceback

    lines = [
        n for f, n in traceback.walk_tb(exc.__traceback__) if f.f_code.co_filename == "<program>"
    ]
    return {
        "event": "error",
        "i": index,
        "type": type(exc).__name__,
        "detail": str(exc)[:500],
        "line": lines[-1] if lines else None,
        "errno": exc.errno if isinstance(exc, OSError) else None,
    }


def _run_module(code: Any, kind: str) -> Any:
    import builtins
    import types

    module = types.ModuleType("__main__")
    if kind != HUMANEVAL:
        module.__dict__.update(prelude_namespace)
    module.__dict__["__builtins__"] = builtins
    sys.modules["__main__"] = module
    try:
        exec(code, module.__dict__)
    except SystemExit as exc:
        if kind == HUMANEVAL or exc.code not in (None, 0):
            raise
    return module


def run(job: dict[str, Any]) -> None:
    """Run the candidate's program as the job says (see the module docstring)."""
    kind, inputs = job["kind"], job.get("inputs", [])
    try:
        calls = (
            [[json.loads(line) for line in i.split("\n")] for i in inputs]
            if kind == FUNCTIONAL
            else []
        )
        code = compile(job["program"], "<program>", "exec")
    except BaseException as exc:  # SyntaxError, ValueError (null bytes), MemoryError, ...
        _send({"event": "syntax", "type": type(exc).__name__, "detail": str(exc)[:500]})
        return
    if kind == HUMANEVAL:
        _serve_calls(code, job["entry_point"])
        return
    cap = job["max_output_bytes"]
    for index, text in enumerate(inputs):
        # Fresh stdin/stdout files per test, so os.write(1, ...) and open(0) work as in a process.
        for target, data in ((0, text.encode() if kind == STDIN else b""), (1, b"")):
            fd = os.memfd_create("io")
            os.write(fd, data)
            os.lseek(fd, 0, os.SEEK_SET)
            if fd != target:  # the program may have closed fd 0 or 1 (e.g. open(0).read())
                os.dup2(fd, target)
                os.close(fd)
        stdin = io.TextIOWrapper(open(0, "rb", closefd=False), encoding="utf-8")
        stdout = io.TextIOWrapper(open(1, "wb", closefd=False), encoding="utf-8")
        sys.stdin = sys.__stdin__ = stdin  # type: ignore[misc]
        sys.stdout = sys.__stdout__ = stdout  # type: ignore[misc]
        message: dict[str, Any] = {"event": "test", "i": index}
        try:
            module = _run_module(code, kind)
            if kind == FUNCTIONAL:
                value = getattr(module.__dict__["Solution"](), job["entry_point"])(*calls[index])
                try:
                    message["result"] = json.dumps(
                        list(value) if isinstance(value, tuple) else value
                    )
                except (TypeError, ValueError, RecursionError):
                    message["result"] = None  # not JSON: cannot equal the expected output
            sys.stdout.flush()
        except BaseException as exc:
            _send(_error(exc, index))
            return
        if kind == STDIN:
            os.lseek(1, 0, os.SEEK_SET)
            message["stdout"] = os.read(1, cap).decode("utf-8", "replace")
        _send(message)
        if os.read(CONTROL_FD, 1) != b"c":  # the pool compared this output: go on or stop
            return


def _serve_calls(code: Any, entry_point: str) -> None:
    """HUMANEVAL: define the candidate's functions, then answer the judge's calls."""
    try:
        module = _run_module(code, HUMANEVAL)
        function = module.__dict__[entry_point]
    except BaseException as exc:
        _send(_error(exc, None))
        return
    _send({"event": "ready"})
    calls = open(CONTROL_FD, "rb", closefd=False)
    while True:
        line = calls.readline()
        if not line:
            return
        args, kwargs = codec.decode(line)
        try:
            value = function(*args, **kwargs)
        except BaseException as exc:  # the judge raises it in the test (SystemExit: a fail)
            _send(_error(exc, None))
            continue
        try:
            _send({"event": "return", "value": codec.encode(value)})
        except codec.CodecError as exc:
            _send({"event": "unencodable", "detail": str(exc)[:200]})
