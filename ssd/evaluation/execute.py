"""Sandboxed execution of untrusted candidate programs against a problem's tests.

``Executor`` starts one pre-warmed ``python -I`` zygote per worker (this file run as a script);
each zygote forks a fresh, locked-down child per candidate, so no candidate sees another's state.
For STDIN/FUNCTIONAL problems the child runs the tests in order, each in a fresh ``__main__``
module with fresh stdin/stdout files (LiveCodeBench also runs all tests in one process); after
each test it waits while the trusted parent compares its output, so the first failure stops it.
Tests: ``pytest tests/test_execute.py``; throughput: ``python benchmarks/bench_executor.py``.

Threat model (Linux; the strong items need root, which the project's machines have):

Covered
- Fork bombs: RLIMIT_NPROC on a per-worker throw-away uid, wall-clock kill of the process group,
  then every remaining descendant is killed (the zygote is a child subreaper, so daemons that
  ``setsid`` and double-fork are still its descendants).
- Memory bombs (RLIMIT_AS), CPU burn (RLIMIT_CPU + wall clock), endless output and big files
  (RLIMIT_FSIZE; stdout/stderr go to capped memory files), fd exhaustion (RLIMIT_NOFILE), cores.
- Files outside the sandbox folder: the child runs as an unprivileged uid (it cannot write or delete
  root's files) inside a private mount namespace where /tmp, /var/tmp, /dev/shm and /run/lock are
  fresh root-owned tmpfs mounts; its only writable folder is its own private working directory.
- Killing the evaluator: the unprivileged uid may not signal the parent or the zygote; if the
  zygote dies anyway it is restarted and the candidate fails.
- Network: the zygote lives in a fresh network namespace (no interfaces up).
- Forged verdicts: STDIN/FUNCTIONAL children only return raw outputs and never see the expected
  outputs; the parent compares (a forged output line is just an output; a malformed one fails).
  HUMANEVAL children must echo a random per-run token after ``check()`` returns; printing "PASS",
  exiting 0, ``os._exit(0)`` or closing fds yields no token.
- setuid binaries (PR_SET_NO_NEW_PRIVS), a scrubbed environment, ``-I`` (no user site, no PYTHON*).

Not covered
- A candidate that introspects the harness's own frames (``sys._getframe``, ``gc``) to read the
  HUMANEVAL token, or that defeats ``check`` in-process (objects whose ``__eq__`` is always true).
- Reading world-readable files (and, where the interpreter lives in a root-only folder, any file:
  the child then keeps CAP_DAC_READ_SEARCH so that imports work); world-writable folders other
  than the four masked ones; kernel exploits; timing side channels. No seccomp filter.
- State shared between the tests of ONE candidate (imported modules, builtins it patched),
  as in LiveCodeBench; each candidate starts from the clean zygote.
- Without root (or, for the uid switch, without CAP_DAC_READ_SEARCH while the interpreter lives
  in a root-only folder): no uid switch, no namespaces (``Executor.isolation`` says what is on);
  then the candidate can signal processes of the same user and write where that user may, and
  RLIMIT_NPROC is not set (it would count all of the user's processes).
"""

from __future__ import annotations

import ast
import ctypes
import json
import math
import os
import pickle
import secrets
import select
import shutil
import signal
import struct
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

# Verdict statuses (ExecutionResult.status).
PASSED = "passed"
WRONG_ANSWER = "wrong_answer"
TIMEOUT = "timeout"
RUNTIME_ERROR = "runtime_error"
RESOURCE_LIMIT = "resource_limit"
SYNTAX_ERROR = "syntax_error"
NO_CODE = "no_code"
STATUSES = (PASSED, WRONG_ANSWER, TIMEOUT, RUNTIME_ERROR, RESOURCE_LIMIT, SYNTAX_ERROR, NO_CODE)

# Problem kinds; equal to ssd.benchmarks.base (not imported: the zygote runs this file standalone).
_HUMANEVAL, _STDIN, _FUNCTIONAL = "humaneval", "stdin", "functional"

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

# logging, queue, subprocess and threading are imported inside the parent-side functions only:
# the zygote runs this file, and threading's at-fork hook alone adds ~0.5 ms CPU to every fork.


@dataclass
class ExecutionResult:
    """The verdict on one candidate program."""

    status: str  # one of STATUSES
    failing_test: int | None = None  # 0-based test (HumanEval: assert statement) that failed
    exception_type: str | None = None  # e.g. "ZeroDivisionError", "SIGSEGV"
    detail: str = ""  # human-readable reason (truncated)
    tests_run: int = 0
    wall_s: float = 0.0

    @property
    def passed(self) -> bool:
        return self.status == PASSED

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "failing_test": self.failing_test,
            "exception_type": self.exception_type,
            "detail": self.detail,
        }


# ----------------------------------------------------------------------------------------------
# Trusted parent side: the pool of zygotes and the verdict logic.


class _Zygote:
    """One sandbox server process and its pipes (used by one parent thread at a time)."""

    def __init__(self, config: dict[str, Any]) -> None:
        import subprocess

        # The whole environment candidates will see (the parent's secrets stay behind).
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/nonexistent"}
        env["OMP_NUM_THREADS"] = env["OPENBLAS_NUM_THREADS"] = env["MKL_NUM_THREADS"] = "1"
        self.proc = subprocess.Popen(
            [sys.executable, "-I", os.path.abspath(__file__), "--zygote", json.dumps(config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            close_fds=True,
        )
        self.isolation: dict[str, bool] = self.recv()

    def send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        _write_message(self.proc.stdin.fileno(), pickle.dumps(message, protocol=5))

    def recv(self) -> Any:
        assert self.proc.stdout is not None
        data = _read_message(self.proc.stdout.fileno())
        if data is None:
            raise ConnectionError(f"sandbox server exited (code {self.proc.poll()})")
        return pickle.loads(data)  # the zygote is trusted code: it never runs candidates itself

    def close(self) -> None:
        import subprocess

        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Executor:
    """A pool of sandbox servers that grades candidate programs in parallel.

    Use as a context manager::

        with Executor(workers=2) as ex:
            results = ex.run_many([(problem, code), ...])
    """

    def __init__(
        self,
        workers: int | None = None,
        timeout_s: float = 6.0,
        memory_mb: int = 2048,
        max_processes: int = 32,
        max_output_bytes: int = 32 << 20,
        max_open_files: int = 128,
    ) -> None:
        """Configure the pool; servers start on ``__enter__``.

        Args:
            workers: parallel sandbox servers; default: the CPU count.
            timeout_s: wall-clock limit per test (LiveCodeBench: 6 s) and per HumanEval program.
            memory_mb: address-space limit of each candidate process.
            max_processes: processes/threads a candidate may have at once (per-worker uid).
            max_output_bytes: cap on stdout, stderr, the verdict message and any file written.
            max_open_files: open file descriptors per candidate process.
        """
        if workers is None:
            workers = os.cpu_count() or 1
        checks = {
            "workers": (workers, 1, 256),
            "timeout_s": (timeout_s, 0.01, 3600),
            "memory_mb": (memory_mb, 64, 1 << 20),
            "max_processes": (max_processes, 1, 4096),
            "max_output_bytes": (max_output_bytes, 1024, 1 << 34),
            "max_open_files": (max_open_files, 16, 1 << 16),
        }
        for name, (value, low, high) in checks.items():
            if not low <= value <= high:
                raise ValueError(f"{name} must be in [{low}, {high}], got {value}")
        self.workers = int(workers)
        self.timeout_s = float(timeout_s)
        base_uid = 1_000_000 + secrets.randbelow(1 << 20) * 256  # unlikely to clash with others
        self._configs = [
            {
                "uid": base_uid + i,
                "memory_bytes": memory_mb << 20,
                "max_processes": max_processes,
                "max_output_bytes": max_output_bytes,
                "max_open_files": max_open_files,
            }
            for i in range(self.workers)
        ]
        import threading

        self._zygotes: list[_Zygote | None] = []
        self._lock = threading.Lock()  # one run_many at a time: each server serves one thread

    # -- lifecycle
    def __enter__(self) -> Executor:
        if not sys.platform.startswith("linux"):
            raise RuntimeError("the sandbox needs Linux >= 5.3 (pidfd, memfd, namespaces)")
        self._zygotes = [_Zygote(cfg) for cfg in self._configs]
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for zygote in self._zygotes:
            if zygote is not None:
                zygote.close()
        self._zygotes = []

    @property
    def isolation(self) -> dict[str, bool]:
        """Which protections are active (``network``, ``private_tmp``, ``separate_uid``)."""
        if not self._zygotes or self._zygotes[0] is None:
            raise RuntimeError("Executor is not started; use it as a context manager")
        return dict(self._zygotes[0].isolation)

    @property
    def sandbox_uids(self) -> list[int]:
        """The throw-away uids candidates run as (one per worker)."""
        return [cfg["uid"] for cfg in self._configs]

    # -- grading
    def run(self, problem: Any, code: str | None) -> ExecutionResult:
        """Grade one candidate (see ``run_many``)."""
        return self.run_many([(problem, code)])[0]

    def run_many(
        self,
        items: Sequence[tuple[Any, str | None]],
        on_result: Callable[[ExecutionResult], None] | None = None,
    ) -> list[ExecutionResult]:
        """Grade candidates in parallel across the workers; results keep the input order.

        Args:
            items: ``(problem, code)`` pairs. ``problem`` is an ``ssd.benchmarks.base.Problem``.
                For HUMANEVAL ``code`` is the text placed after the prompt (program = prompt +
                code + test + ``check(entry_point)``); for STDIN/FUNCTIONAL it is the whole
                program. ``None`` means no code was found (status NO_CODE).
            on_result: called with each result as it arrives (completion order, one call at a
                time): progress bars.

        Returns:
            One ``ExecutionResult`` per item.
        """
        if not self._zygotes:
            raise RuntimeError("Executor is not started; use it as a context manager")
        with self._lock:
            return self._run_parallel(items, on_result)

    def _run_parallel(
        self,
        items: Sequence[tuple[Any, str | None]],
        on_result: Callable[[ExecutionResult], None] | None,
    ) -> list[ExecutionResult]:
        import queue
        import threading

        report = threading.Lock()  # worker threads take turns calling on_result

        results: list[ExecutionResult | None] = [None] * len(items)
        work: queue.SimpleQueue[int] = queue.SimpleQueue()
        for index in range(len(items)):
            work.put(index)
        errors: list[BaseException] = []

        def worker(slot: int) -> None:
            while True:
                try:
                    index = work.get_nowait()
                except queue.Empty:
                    return
                try:
                    result = results[index] = self._grade(slot, *items[index])
                    if on_result is not None:
                        with report:
                            on_result(result)
                except BaseException as exc:  # surfaced in the caller's thread below
                    errors.append(exc)
                    return

        threads = [
            threading.Thread(target=worker, args=(slot,), daemon=True)
            for slot in range(min(self.workers, max(1, len(items))))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]
        return [r for r in results if r is not None]

    def _grade(self, slot: int, problem: Any, code: str | None) -> ExecutionResult:
        start = time.monotonic()
        if code is None or not code.strip():
            return ExecutionResult(NO_CODE, detail="no code found in the completion")
        if problem.kind not in (_HUMANEVAL, _STDIN, _FUNCTIONAL):
            raise ValueError(f"problem {problem.problem_id}: unknown kind {problem.kind!r}")
        if problem.kind != _HUMANEVAL and not problem.tests:
            raise ValueError(f"problem {problem.problem_id} has no tests")
        for _ in range(2):  # restart a dead server once; the candidate may not kill it
            zygote = self._zygotes[slot]
            if zygote is None:
                zygote = self._zygotes[slot] = _Zygote(self._configs[slot])
            try:
                if problem.kind == _HUMANEVAL:
                    result = self._grade_humaneval(zygote, problem, code)
                else:
                    result = self._grade_tests(zygote, problem, code)
                break
            except (ConnectionError, BrokenPipeError, EOFError) as exc:
                import logging

                logging.getLogger(__name__).warning("sandbox server %d died (%s)", slot, exc)
                zygote.close()
                self._zygotes[slot] = None
                result = ExecutionResult(RUNTIME_ERROR, detail="sandbox server died twice")
        result.wall_s = time.monotonic() - start
        return result

    def _grade_humaneval(self, zygote: _Zygote, problem: Any, code: str) -> ExecutionResult:
        head = problem.starter_code + code + "\n"
        program = head + problem.test_code + "\n" + f"check({problem.entry_point})\n"
        zygote.send({"kind": _HUMANEVAL, "program": program, "timeout": self.timeout_s})
        end = zygote.recv()
        result = _classify(end, test_index=None)
        if result is None:
            return ExecutionResult(PASSED, tests_run=1)
        result.tests_run = 1
        message = end.get("message") or {}
        test_start = head.count("\n") + 1  # first line of the test code in the program
        line = message.get("line")
        if result.exception_type == "AssertionError" and line is not None and line >= test_start:
            result.status = WRONG_ANSWER
            result.failing_test = _assert_index(problem.test_code, line - test_start + 1)
            result.detail = f"assertion failed at test line {line - test_start + 1}"
        return result

    def _grade_tests(self, zygote: _Zygote, problem: Any, code: str) -> ExecutionResult:
        """One child runs the tests in order; after each, it waits until we have compared its
        output (it never sees the expected one) and tell it to go on, so the first failure
        stops it, as in LiveCodeBench."""
        from ssd.evaluation.grading import compare_functional, compare_stdout

        tests = problem.tests
        zygote.send(
            {
                "kind": problem.kind,
                "program": code,  # run after LCB_PRELUDE (executed once in the zygote)
                "inputs": [t.input for t in tests],
                "entry_point": problem.entry_point,
                "timeout": self.timeout_s,
            }
        )
        wrong: ExecutionResult | None = None
        while True:
            message = zygote.recv()
            if message["type"] == "end":
                break
            index = message["i"]
            if problem.kind == _STDIN:
                got = message.get("stdout")
                ok = got is not None and compare_stdout(got, tests[index].output)
            else:
                got = message.get("result")
                ok = compare_functional(got, tests[index].output)
            if not ok and wrong is None:
                detail = f"wrong answer on test {index}: got {str(got)[:80]!r}, "
                detail += f"expected {tests[index].output[:80]!r}"
                wrong = ExecutionResult(WRONG_ANSWER, index, detail=detail, tests_run=index + 1)
            zygote.send({"continue": ok and index + 1 < len(tests)})
        if wrong is not None:
            return wrong
        done = message["tests_done"]
        if done == len(tests):
            return ExecutionResult(PASSED, tests_run=done)
        failure = _classify(message, test_index=done)
        if failure is None:
            failure = ExecutionResult(RUNTIME_ERROR, done, detail=f"stopped before test {done}")
        failure.tests_run = done + 1
        return failure


def _classify(reply: dict[str, Any], test_index: int | None) -> ExecutionResult | None:
    """Turn a zygote reply into a failure, or None when the program completed normally."""
    outcome = reply["outcome"]
    where = "" if test_index is None else f" on test {test_index}"
    if outcome == "timeout":
        return ExecutionResult(TIMEOUT, test_index, detail=f"wall-clock timeout{where}")
    if outcome == "overflow":
        return ExecutionResult(RESOURCE_LIMIT, test_index, detail=f"verdict too large{where}")
    if outcome == "corrupt":
        return ExecutionResult(RUNTIME_ERROR, test_index, detail=f"corrupt verdict channel{where}")
    message = reply.get("message")
    if outcome == "signal":
        name = reply["signal_name"]
        if name == "SIGXCPU":
            return ExecutionResult(TIMEOUT, test_index, name, f"CPU time limit{where}")
        if name in ("SIGXFSZ", "SIGKILL"):  # SIGKILL not from us: the kernel's OOM killer
            return ExecutionResult(RESOURCE_LIMIT, test_index, name, f"killed by {name}{where}")
        return ExecutionResult(RUNTIME_ERROR, test_index, name, f"killed by {name}{where}")
    if message is None:
        detail = f"exited with code {reply['exit_code']} without a verdict{where}"
        return ExecutionResult(RUNTIME_ERROR, test_index, detail=detail + _tail(reply))
    event = message.get("event")
    if event == "syntax":
        return ExecutionResult(SYNTAX_ERROR, None, message.get("type"), message.get("detail", ""))
    if event == "error":
        kind = message.get("type")
        detail = f"{kind}: {message.get('detail', '')}{where}"
        if kind == "MemoryError" or message.get("errno") == 27:  # EFBIG: file size limit
            return ExecutionResult(RESOURCE_LIMIT, test_index, kind, detail)
        return ExecutionResult(RUNTIME_ERROR, test_index, kind, detail)
    if event == "unserializable":
        detail = f"returned a non-JSON value of type {message.get('type')}{where}"
        return ExecutionResult(WRONG_ANSWER, test_index, detail=detail)
    if event == "done" and reply.get("token_ok"):
        return None
    return ExecutionResult(RUNTIME_ERROR, test_index, detail=f"forged or missing verdict{where}")


def _tail(reply: dict[str, Any]) -> str:
    stderr = reply.get("stderr", "").strip()
    return f"; stderr: {stderr[-300:]}" if stderr else ""


def _assert_index(test_code: str, line: int) -> int | None:
    """0-based index of the assert statement covering ``line`` of ``test_code``."""
    try:
        tree = ast.parse(test_code)
    except SyntaxError:
        return None
    asserts = sorted(
        (node for node in ast.walk(tree) if isinstance(node, ast.Assert)),
        key=lambda n: n.lineno,
    )
    for index, node in enumerate(asserts):
        if node.lineno <= line <= (node.end_lineno or node.lineno):
            return index
    return None


def _write_message(fd: int, data: bytes) -> None:
    payload = struct.pack("<Q", len(data)) + data
    view = memoryview(payload)
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


def _read_message(fd: int) -> bytes | None:
    header = _read_exact(fd, 8)
    if header is None:
        return None
    return _read_exact(fd, struct.unpack("<Q", header)[0])


# ----------------------------------------------------------------------------------------------
# Zygote side: runs as ``python -I execute.py --zygote CONFIG``. Trusted code; it forks the
# untrusted children and never executes candidate code itself.

_CLONE_NEWNS, _CLONE_NEWNET = 0x00020000, 0x40000000
_MS_REC, _MS_PRIVATE = 0x4000, 1 << 18
_PR_SET_PDEATHSIG, _PR_SET_KEEPCAPS, _PR_SET_CHILD_SUBREAPER, _PR_SET_NO_NEW_PRIVS = 1, 8, 36, 38
_CAP_DAC_READ_SEARCH = 2
_MASKED_DIRS = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")
_libc: Any = None  # loaded once by the zygote, inherited by every child
_prelude_namespace: dict[str, Any] = {}  # LCB_PRELUDE executed once by the zygote


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def _zygote_setup(cfg: dict[str, Any]) -> dict[str, bool]:
    """Enter private namespaces and preload modules; returns which protections are active."""
    global _libc, _prelude_namespace
    libc = _libc = ctypes.CDLL(None, use_errno=True)
    root = os.geteuid() == 0
    isolation = {"separate_uid": root, "network": False, "private_tmp": False}
    libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)  # orphans of candidates come back to us
    if libc.unshare(_CLONE_NEWNET) == 0:
        isolation["network"] = True
    if root and libc.unshare(_CLONE_NEWNS) == 0:
        ok = libc.mount(b"none", b"/", None, _MS_REC | _MS_PRIVATE, None) == 0
        size = max(256 << 20, 4 * cfg["max_output_bytes"])
        # Never hide the interpreter or its packages (a CI venv may live under /tmp).
        needed = [os.path.realpath(p) + "/" for p in (sys.prefix, sys.base_prefix, *sys.path) if p]
        masked = []
        for path in _MASKED_DIRS:
            if any(n.startswith(path + "/") for n in needed) or not os.path.isdir(path):
                continue
            opts = f"mode=0755,size={size}".encode()
            if ok and libc.mount(b"tmpfs", path.encode(), b"tmpfs", 0, opts) == 0:
                masked.append(path)
        isolation["private_tmp"] = ok and "/tmp" in masked
    if isolation["private_tmp"]:
        sandbox_root = "/tmp/ssd-sandbox"
        os.makedirs(sandbox_root)
    else:
        sandbox_root = tempfile.mkdtemp(prefix="ssd-sandbox-")
    os.chmod(sandbox_root, 0o711)  # children may enter their own folder, not list the others
    cfg["sandbox_root"] = sandbox_root
    cfg["read_cap"] = root and not all(
        _world_readable(p) for p in (os.path.dirname(os.__file__), sys.prefix)
    )
    if cfg["read_cap"] and not _has_capability(_CAP_DAC_READ_SEARCH):
        # An unprivileged uid could not even import the standard library: stay root (degraded;
        # reported through ``isolation``) rather than fail every candidate.
        isolation["separate_uid"] = False
    cfg["drop_uid"] = isolation["separate_uid"]
    # Imported once here instead of in every child (the LCB prelude imports all of its modules).
    harness = ["types", "traceback", "resource", "fcntl", "decimal", "fractions", "array"]
    for name in LCB_PRELUDE_MODULES + harness:
        __import__(name)
    exec(LCB_PRELUDE, _prelude_namespace)  # trusted, constant code; children copy the result
    import gc

    gc.freeze()  # keep preloaded objects out of GC passes: fewer copy-on-write page faults
    return isolation


def _has_capability(bit: int) -> bool:
    with open("/proc/self/status") as f:
        fields = dict(line.split(":", 1) for line in f if ":" in line)
    return bool(int(fields["CapPrm"], 16) >> bit & 1)


def _world_readable(path: str) -> bool:
    """Whether an unprivileged user can reach ``path`` (every folder on the way has o+x)."""
    path = os.path.realpath(path)
    while True:
        if not os.stat(path).st_mode & 0o005:
            return False
        parent = os.path.dirname(path)
        if parent == path:
            return True
        path = parent


def _enter_sandbox(cfg: dict[str, Any], workdir: str, fds: Sequence[int]) -> None:
    """In the forked child: new session, private fds, rlimits, unprivileged uid.

    ``fds`` become 0, 1, 2 (stdin, stdout, stderr), 3 (verdict, write) and 4 (control, read).
    """
    import fcntl
    import io
    import resource

    libc = _libc
    os.setsid()
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 64) for fd in fds]  # no clash while renumbering
    for target, fd in enumerate(high):
        os.dup2(fd, target)
    os.closerange(len(high), 1 << 16)
    os.chdir(workdir)
    os.umask(0o077)
    cpu = math.ceil(cfg["timeout"] * max(1, len(cfg["inputs"]))) + 1
    limits = {
        resource.RLIMIT_CPU: (cpu, cpu + 1),
        resource.RLIMIT_AS: (cfg["memory_bytes"],) * 2,
        resource.RLIMIT_FSIZE: (cfg["max_output_bytes"],) * 2,
        resource.RLIMIT_NOFILE: (cfg["max_open_files"],) * 2,
        resource.RLIMIT_CORE: (0, 0),
    }
    if cfg["drop_uid"]:  # per-uid count: meaningful only for our throw-away uid
        limits[resource.RLIMIT_NPROC] = (cfg["max_processes"],) * 2
    for which, value in limits.items():
        resource.setrlimit(which, value)
    if cfg["drop_uid"]:
        uid = cfg["uid"]
        if cfg["read_cap"]:
            libc.prctl(_PR_SET_KEEPCAPS, 1, 0, 0, 0)
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
        if cfg["read_cap"]:  # only the right to read files: the interpreter lives in /root
            header = _CapHeader(0x20080522, 0)
            data = (_CapData * 2)()
            data[0].effective = data[0].permitted = 1 << _CAP_DAC_READ_SEARCH
            if libc.capset(ctypes.byref(header), data) != 0:
                os._exit(120)
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        os._exit(121)
    sys.stdin = io.TextIOWrapper(open(0, "rb", closefd=False), encoding="utf-8")
    sys.stdout = io.TextIOWrapper(open(1, "wb", closefd=False), encoding="utf-8")
    sys.stderr = io.TextIOWrapper(open(2, "wb", closefd=False), encoding="utf-8")
    # The originals point at the zygote's pipes: code that restores them must get ours.
    sys.__stdin__, sys.__stdout__, sys.__stderr__ = sys.stdin, sys.stdout, sys.stderr  # type: ignore[misc]


_VERDICT_FD, _CONTROL_FD = 3, 4


def _child_run(job: dict[str, Any], token: str) -> None:
    """Compile and run the program, reporting on the verdict fd (the candidate can write there
    too, which is why only raw outputs and a token travel on it)."""
    import builtins
    import io
    import traceback
    import types

    def send(message: dict[str, Any]) -> None:
        data = (json.dumps(message, ensure_ascii=False) + "\n").encode("utf-8", "replace")
        while data:
            data = data[os.write(_VERDICT_FD, data) :]

    def error(exc: BaseException, index: int | None) -> dict[str, Any]:
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == "<program>"]
        return {
            "event": "error",
            "i": index,
            "type": type(exc).__name__,
            "detail": str(exc)[:500],
            "line": frames[-1].lineno if frames else None,
            "errno": exc.errno if isinstance(exc, OSError) else None,
        }

    def run_module(code: types.CodeType) -> types.ModuleType:
        module = types.ModuleType("__main__")
        if job["kind"] != _HUMANEVAL:
            module.__dict__.update(_prelude_namespace)
        module.__dict__["__builtins__"] = builtins
        sys.modules["__main__"] = module
        try:
            exec(code, module.__dict__)
        except SystemExit as exc:
            if job["kind"] == _HUMANEVAL or exc.code not in (None, 0):
                raise
        return module

    kind, inputs = job["kind"], job.get("inputs", [])
    try:
        calls = (
            [[json.loads(line) for line in i.split("\n")] for i in inputs]
            if kind == _FUNCTIONAL
            else []
        )
        code = compile(job["program"], "<program>", "exec")
    except BaseException as exc:  # SyntaxError, ValueError (null bytes), MemoryError, ...
        send({"event": "syntax", "type": type(exc).__name__, "detail": str(exc)[:500]})
        return
    if kind == _HUMANEVAL:
        try:
            run_module(code)
        except BaseException as exc:
            send(error(exc, None))
            return
        send({"event": "done", "token": token})
        return
    cap = job["max_output_bytes"]
    for index, text in enumerate(inputs):
        # Fresh stdin/stdout files per test, so os.write(1, ...) and open(0) work as in a process.
        for target, data in ((0, text.encode() if kind == _STDIN else b""), (1, b"")):
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
            module = run_module(code)
            if kind == _FUNCTIONAL:
                value = getattr(module.__dict__["Solution"](), job["entry_point"])(*calls[index])
                try:
                    message["result"] = json.dumps(
                        list(value) if isinstance(value, tuple) else value
                    )
                except (TypeError, ValueError):
                    message["result"] = None  # not JSON: cannot equal the expected output
            sys.stdout.flush()
        except BaseException as exc:
            send(error(exc, index))
            return
        if kind == _STDIN:
            os.lseek(1, 0, os.SEEK_SET)
            message["stdout"] = os.read(1, cap).decode("utf-8", "replace")
        send(message)
        if os.read(_CONTROL_FD, 1) != b"c":  # the parent compared this output: go on or stop
            return


def _kill_descendants() -> None:
    """SIGKILL every remaining descendant and reap it (we are their subreaper)."""
    path = f"/proc/self/task/{os.getpid()}/children"
    for _ in range(10_000):
        with open(path) as f:
            pids = [int(p) for p in f.read().split()]
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            os.waitpid(-1, 0)
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
        except ChildProcessError:
            pass


def _zygote_run(cfg: dict[str, Any], job: dict[str, Any]) -> dict[str, Any]:
    """Fork one sandboxed child for ``job``, relay its per-test outputs, enforce the wall clock.

    Returns the final ``{"type": "end", ...}`` message; per-test outputs were forwarded to the
    parent on the way (each answered by ``{"continue": bool}``).
    """
    cap = cfg["max_output_bytes"]
    job = {**job, "max_output_bytes": cap}
    n_tests = len(job.get("inputs", []))
    workdir = tempfile.mkdtemp(dir=cfg["sandbox_root"])
    if cfg["drop_uid"]:
        os.chown(workdir, cfg["uid"], cfg["uid"])
    io_fds = [os.memfd_create(name) for name in ("stdin", "stdout", "stderr")]
    read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
    control_read, control_write = os.pipe2(os.O_CLOEXEC)
    token = secrets.token_hex(16)
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:  # the child: never returns into the server loop
        try:
            limits = {**cfg, "timeout": job["timeout"], "inputs": job.get("inputs", [])}
            _enter_sandbox(limits, workdir, [*io_fds, write_fd, control_read])
            _child_run(job, token)
        finally:
            os._exit(0)
    os.close(write_fd)
    os.close(control_read)
    pidfd = os.pidfd_open(pid)
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    poller.register(read_fd, select.POLLIN)
    buffer, tests_done, final, outcome = bytearray(), 0, None, ""
    deadline = start + job["timeout"]

    def handle(line: bytes, alive: bool) -> str:
        """Process one verdict line; returns an outcome that ends the run, or ""."""
        nonlocal tests_done, final
        try:
            message = json.loads(line)
        except (ValueError, RecursionError):
            return "corrupt"
        if not isinstance(message, dict):
            return "corrupt"
        if message.get("event") == "test":
            if message.get("i") != tests_done or tests_done >= n_tests:
                return "corrupt"
            tests_done += 1
            relay = {"type": "test", "i": message["i"]}
            for key in ("stdout", "result"):
                if isinstance(message.get(key), str):
                    relay[key] = message[key]
            _write_message(1, pickle.dumps(relay, protocol=5))
            go_on = pickle.loads(_read_message(0) or b"")["continue"]
            if not go_on:
                return "stopped"
            if alive:
                try:
                    os.write(control_write, b"c")
                except BrokenPipeError:  # the program closed its control fd; it will stop
                    pass
            return ""
        if final is None:
            final = message
            return ""
        return "corrupt"

    while not outcome:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            outcome = "timeout"
            break
        for fd, _ in poller.poll(remaining * 1000):
            if fd == pidfd:
                outcome = outcome or "exited"
                continue
            data = os.read(read_fd, 1 << 16)
            if not data:
                poller.unregister(read_fd)
            buffer += data  # a bytearray: appending is amortised O(1) for long outputs
            while not outcome and b"\n" in data and (end := buffer.find(b"\n")) >= 0:
                line = bytes(buffer[:end])
                del buffer[: end + 1]
                before = tests_done
                outcome = handle(line, alive=True)
                if tests_done > before:  # each test gets the full time limit
                    deadline = time.monotonic() + job["timeout"]
            if len(buffer) > 2 * cap + 4096:
                outcome = "overflow"
    for target in (-pid, pid):
        try:
            os.kill(target, signal.SIGKILL)
        except ProcessLookupError:
            pass
    _, status = os.waitpid(pid, 0)
    _kill_descendants()
    if outcome == "exited":  # what the child wrote just before it exited
        os.set_blocking(read_fd, False)
        while len(buffer) <= 2 * cap + 4096:
            try:
                data = os.read(read_fd, 1 << 16)
            except BlockingIOError:
                break
            if not data:
                break
            buffer += data
        while outcome == "exited" and (end := buffer.find(b"\n")) >= 0:
            line = bytes(buffer[:end])
            del buffer[: end + 1]
            outcome = handle(line, alive=False) or outcome
    reply: dict[str, Any] = {"type": "end", "outcome": outcome, "tests_done": tests_done}
    reply["wall"] = time.monotonic() - start
    if outcome == "exited":
        if os.WIFSIGNALED(status):
            reply["outcome"] = "signal"
            reply["signal_name"] = signal.Signals(os.WTERMSIG(status)).name
        reply["exit_code"] = os.waitstatus_to_exitcode(status)
        reply["message"] = final
        if final is not None:
            reply["token_ok"] = final.pop("token", None) == token
        size = os.fstat(io_fds[2]).st_size
        reply["stderr"] = os.pread(io_fds[2], 2000, max(0, size - 2000)).decode("utf-8", "replace")
    for fd in (pidfd, read_fd, control_write, *io_fds):
        os.close(fd)
    shutil.rmtree(workdir, ignore_errors=True)
    return reply


def _zygote_main(cfg: dict[str, Any]) -> None:
    isolation = _zygote_setup(cfg)
    _write_message(1, pickle.dumps(isolation))
    while True:
        data = _read_message(0)
        if data is None:
            break
        end = _zygote_run(cfg, pickle.loads(data))
        _write_message(1, pickle.dumps(end, protocol=5))
    if not isolation["private_tmp"]:  # a folder on the shared /tmp: remove it
        shutil.rmtree(cfg["sandbox_root"], ignore_errors=True)


if __name__ == "__main__" and sys.argv[1:2] == ["--zygote"]:
    _zygote_main(json.loads(sys.argv[2]))
