"""The problem record every benchmark loads into (HumanEval, LiveCodeBench, the tiny world)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# How a problem's tests are run (ssd.evaluation.execute):
HUMANEVAL = "humaneval"  # program = prompt + completion + test + check(entry_point); asserts
STDIN = "stdin"  # LiveCodeBench stdin: feed input, compare stdout line by line
FUNCTIONAL = "functional"  # LiveCodeBench: Solution().<entry_point>(*json lines), compare JSON


@dataclass
class TestCase:
    input: str
    output: str
    testtype: str  # STDIN | FUNCTIONAL


@dataclass
class Problem:
    problem_id: str
    question: str  # the statement in words (what prompt templates render)
    kind: str  # HUMANEVAL | STDIN | FUNCTIONAL
    starter_code: str = ""  # HumanEval: the prompt (signature + docstring); LCB: starter code
    entry_point: str = ""  # function name (HumanEval entry point, LCB func_name)
    difficulty: str = "unknown"  # easy | medium | hard | unknown
    tests: list[TestCase] = field(default_factory=list)  # STDIN / FUNCTIONAL
    test_code: str = ""  # HUMANEVAL: code defining check(candidate)
    metadata: dict[str, Any] = field(default_factory=dict)
