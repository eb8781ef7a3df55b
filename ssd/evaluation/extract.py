"""Pull the program out of a model's raw completion.

Rules (``extract_code``), checked by golden strings in ``tests/test_extract.py``:
1. If the text contains ``</think>``, only what follows the last one is searched (a reasoning
   trace may hold drafts).
2. A fenced block opens with a line whose stripped text starts with three or more backticks
   (an optional language tag such as ``python`` follows) and closes with a line that is only
   backticks, at least as many. Fences may be indented; the block's lines are kept verbatim.
3. The LAST complete block is the program (LiveCodeBench takes the last block too). An opening
   fence that never closes (a truncated generation) is ignored.
4. No complete block, or only whitespace inside it: ``None`` (status NO_CODE).
``candidate_code`` adds the HumanEval rule: with no fenced block, the raw completion is the code
that follows the prompt (a plain function-body continuation).
"""

from __future__ import annotations

from typing import Any

from ssd.benchmarks.base import HUMANEVAL


def _fence_length(line: str) -> int:
    stripped = line.strip()
    return len(stripped) - len(stripped.lstrip("`"))


def extract_code(text: str) -> str | None:
    """The last complete fenced code block of ``text``, or None when there is none.

    Args:
        text: raw model output.

    Returns:
        The block's content (without the fences, ending in a newline), or None.
    """
    if "</think>" in text:
        text = text.rsplit("</think>", 1)[1]
    blocks: list[str] = []
    open_length, body = 0, list[str]()
    for line in text.split("\n"):
        fence = _fence_length(line)
        if open_length == 0:
            if fence >= 3:
                open_length, body = fence, []
        elif fence >= open_length and line.strip() == "`" * fence:
            blocks.append("\n".join(body) + "\n")
            open_length = 0
        else:
            body.append(line)
    if not blocks or not blocks[-1].strip():
        return None
    return blocks[-1]


def candidate_code(problem: Any, completion: str) -> str | None:
    """The code ``Executor.run`` expects for ``problem`` from a raw completion.

    Args:
        problem: an ``ssd.benchmarks.base.Problem``.
        completion: raw model text.

    Returns:
        For HUMANEVAL: the last fenced block if any (on its own line after the prompt), else the
        raw completion (a continuation of the prompt), None if blank. Otherwise ``extract_code``.
    """
    code = extract_code(completion)
    if problem.kind == HUMANEVAL:
        if code is not None:
            return "\n" + code
        return completion if completion.strip() else None
    return code
