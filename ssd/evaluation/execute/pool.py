"""TRUSTED pool: ``Executor`` starts the sandbox servers and turns their replies into verdicts.

Each worker thread owns one server (``python -I server.py``, started with an empty environment
but for PATH/LANG/HOME, so the pool's secrets never reach it). STDIN/FUNCTIONAL outputs are
compared here (``ssd.evaluation.grading``); HumanEval verdicts come from the server's judge.
Layers the kernel refused are logged once per pool (``Executor.isolation`` says what is on).
"""

from __future__ import annotations

import logging
import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from ssd.evaluation.execute import verdict, wire
from ssd.evaluation.execute.verdict import (
    NO_CODE,
    PASSED,
    RUNTIME_ERROR,
    TIMEOUT,
    WRONG_ANSWER,
    ExecutionResult,
)

logger = logging.getLogger(__name__)
_HUMANEVAL, _STDIN, _FUNCTIONAL = "humaneval", "stdin", "functional"
SERVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "server.py")


class _Server:
    """One sandbox server process and its pipes (used by one worker thread at a time)."""

    def __init__(self, config: dict[str, Any], python: str) -> None:
        import json

        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/nonexistent"}
        tests_r, self.tests_w = os.pipe()  # HumanEval tests: read by the server's judge only
        try:
            self.proc = subprocess.Popen(
                [python, "-I", SERVER, json.dumps({**config, "tests_fd": tests_r})],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=env,
                close_fds=True,
                pass_fds=(tests_r,),
            )
        finally:
            os.close(tests_r)
        self.isolation: dict[str, Any] = self.recv()

    def send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        wire.write_message(self.proc.stdin.fileno(), message)

    def send_tests(self, message: dict[str, Any]) -> None:
        wire.write_message(self.tests_w, message)

    def recv(self) -> Any:
        assert self.proc.stdout is not None
        message = wire.read_message(self.proc.stdout.fileno())
        if message is None:
            raise ConnectionError(f"sandbox server exited (code {self.proc.poll()})")
        return message

    def close(self) -> None:
        os.close(self.tests_w)
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
        python: str | None = None,
    ) -> None:
        """Configure the pool; servers start on ``__enter__``.

        Args:
            workers: parallel sandbox servers; default: the CPU count.
            timeout_s: wall-clock limit per test (LiveCodeBench: 6 s) and per HumanEval program.
            memory_mb: address-space limit of each candidate process.
            max_processes: processes/threads a candidate may have at once (per-worker uid).
            max_output_bytes: cap on stdout, stderr and any file written.
            max_open_files: open file descriptors per candidate process.
            python: interpreter that runs the servers (and so the candidates); default: this one.
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
        self.python = python or sys.executable
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
        self._zygotes: list[_Server | None] = []
        self._lock = threading.Lock()  # one run_many at a time: each server serves one thread

    # -- lifecycle
    def __enter__(self) -> Executor:
        if not sys.platform.startswith("linux"):
            raise RuntimeError("the sandbox needs Linux >= 5.3 (pidfd, memfd, namespaces)")
        self._zygotes = [_Server(cfg, self.python) for cfg in self._configs]
        for note in self.isolation.get("notes", []):
            logger.warning("sandbox layer off: %s", note)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for server in self._zygotes:
            if server is not None:
                server.close()
        self._zygotes = []

    @property
    def isolation(self) -> dict[str, Any]:
        """Which layers are active: ``separate_uid``, ``network``, ``pid``, ``filesystem``
        (``private_tmp``), ``seccomp``; ``notes`` says why a layer is off."""
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
                For HUMANEVAL ``code`` is the text placed after the prompt (the candidate's
                program is prompt + code; the test code runs on the trusted side and calls the
                entry point across the boundary); for STDIN/FUNCTIONAL it is the whole program.
                ``None`` means no code was found (status NO_CODE).
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
            server = self._zygotes[slot]
            if server is None:
                server = self._zygotes[slot] = _Server(self._configs[slot], self.python)
            try:
                if problem.kind == _HUMANEVAL:
                    result = self._grade_humaneval(server, problem, code)
                else:
                    result = self._grade_tests(server, problem, code)
                break
            except (ConnectionError, BrokenPipeError, EOFError) as exc:
                logger.warning("sandbox server %d died (%s)", slot, exc)
                server.close()
                self._zygotes[slot] = None
                result = ExecutionResult(RUNTIME_ERROR, detail="sandbox server died twice")
        result.wall_s = time.monotonic() - start
        return result

    def _grade_humaneval(self, server: _Server, problem: Any, code: str) -> ExecutionResult:
        program = problem.starter_code + code + "\n"
        job = {"kind": _HUMANEVAL, "program": program, "entry_point": problem.entry_point}
        server.send({**job, "timeout": self.timeout_s})
        server.send_tests({"prompt": problem.starter_code, "test_code": problem.test_code})
        end = server.recv()
        if end["outcome"] == "timeout":
            return ExecutionResult(TIMEOUT, None, detail="wall-clock timeout", tests_run=1)
        judged = end.get("judge") or {}
        if "status" in judged:
            result = ExecutionResult(
                judged["status"],
                judged.get("failing_test"),
                judged.get("exception_type"),
                judged.get("detail", ""),
            )
        elif "message" in judged:
            found = verdict.classify({"outcome": "exited", "message": judged["message"]}, None)
            result = found or ExecutionResult(RUNTIME_ERROR, detail="unexpected judge message")
        else:  # the candidate stopped answering: say how it ended
            exited = {**end, "outcome": "signal" if "signal_name" in end else "exited"}
            if exited["outcome"] == "signal" and end.get("signal_name") == "SIGKILL":
                exited["outcome"] = "exited"  # our own kill after it stopped answering
            result = verdict.classify(exited, None) or ExecutionResult(RUNTIME_ERROR)
            reason = judged.get("gone", "no answer")
            if result.status == RUNTIME_ERROR and result.exception_type is None:
                result.detail = f"{reason}: missing result (exit code {end.get('exit_code')})"
                result.detail += verdict.tail(end)
        result.tests_run = 1
        return result

    def _grade_tests(self, server: _Server, problem: Any, code: str) -> ExecutionResult:
        """One child runs the tests in order; after each, it waits until we have compared its
        output (it never sees the expected one) and tell it to go on, so the first failure
        stops it, as in LiveCodeBench."""
        from ssd.evaluation.grading import compare_functional, compare_stdout

        tests = problem.tests
        server.send(
            {
                "kind": problem.kind,
                "program": code,  # run after LCB_PRELUDE (executed once in the server)
                "inputs": [t.input for t in tests],
                "entry_point": problem.entry_point,
                "timeout": self.timeout_s,
            }
        )
        wrong: ExecutionResult | None = None
        while True:
            message = server.recv()
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
            server.send({"continue": ok and index + 1 < len(tests)})
        if wrong is not None:
            return wrong
        done = message["tests_done"]
        if done == len(tests):
            return ExecutionResult(PASSED, tests_run=done)
        failure = verdict.classify(message, test_index=done)
        if failure is None:
            failure = ExecutionResult(RUNTIME_ERROR, done, detail=f"stopped before test {done}")
        failure.tests_run = done + 1
        return failure
