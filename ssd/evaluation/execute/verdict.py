"""Verdicts: the statuses, the result record, and how a run's outcome becomes a verdict.

Shared by the trusted pool and the trusted judge in the sandbox server; never imported by
anything the candidate can influence.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any

PASSED = "passed"
WRONG_ANSWER = "wrong_answer"
TIMEOUT = "timeout"
RUNTIME_ERROR = "runtime_error"
RESOURCE_LIMIT = "resource_limit"
SYNTAX_ERROR = "syntax_error"
NO_CODE = "no_code"
STATUSES = (PASSED, WRONG_ANSWER, TIMEOUT, RUNTIME_ERROR, RESOURCE_LIMIT, SYNTAX_ERROR, NO_CODE)


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


def from_error(message: dict[str, Any], test_index: int | None, where: str) -> ExecutionResult:
    """A candidate's exception report (``{"type", "detail", "errno"}``) as a verdict."""
    kind = str(message.get("type"))[:100]
    detail = f"{kind}: {str(message.get('detail', ''))[:500]}{where}"
    if kind == "MemoryError" or message.get("errno") == 27:  # EFBIG: file size limit
        return ExecutionResult(RESOURCE_LIMIT, test_index, kind, detail)
    return ExecutionResult(RUNTIME_ERROR, test_index, kind, detail)


def classify(reply: dict[str, Any], test_index: int | None) -> ExecutionResult | None:
    """Turn a server's end-of-run reply into a failure, or None when the run completed."""
    outcome = reply["outcome"]
    where = "" if test_index is None else f" on test {test_index}"
    if outcome == "timeout":
        return ExecutionResult(TIMEOUT, test_index, detail=f"wall-clock timeout{where}")
    if outcome == "overflow":
        return ExecutionResult(RESOURCE_LIMIT, test_index, detail=f"output too large{where}")
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
    if not isinstance(message, dict):
        detail = f"exited with code {reply.get('exit_code')} without a verdict{where}"
        return ExecutionResult(RUNTIME_ERROR, test_index, detail=detail + tail(reply))
    event = message.get("event")
    if event == "syntax":
        return ExecutionResult(
            SYNTAX_ERROR, None, str(message.get("type")), str(message.get("detail", ""))[:500]
        )
    if event == "error":
        return from_error(message, test_index, where)
    return ExecutionResult(RUNTIME_ERROR, test_index, detail=f"unexpected message{where}")


def tail(reply: dict[str, Any]) -> str:
    stderr = str(reply.get("stderr", "")).strip()
    return f"; stderr: {stderr[-300:]}" if stderr else ""


def assert_index(test_code: str, line: int) -> int | None:
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
