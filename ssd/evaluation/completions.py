"""A bounded sample of an evaluation's completions with their verdicts, for reading by eye.

Metrics say how often a model passes; a handful of completions says why it fails (a trap idiom,
a truncated body, noise tokens at high T_eval). The evaluation stage writes ``completions.jsonl``
(at most ``evaluation.keep_completions`` rows) into its artifact folder, and ``ssd.tracking``
logs it as a W&B table per evaluated policy. The sample goes round-robin over problems (the
first completion of every problem, then the second, ...), so a small budget still covers many
problems rather than all n completions of the first few.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

COMPLETIONS_FILE = "completions.jsonl"
COLUMNS = ("problem_id", "difficulty", "sample_index", "verdict", "passed", "completion")


def sample_rows(
    completions: Mapping[str, Sequence[str]],
    verdicts: Mapping[str, Sequence[str]],
    difficulties: Mapping[str, str],
    keep: int,
) -> list[dict[str, Any]]:
    """At most ``keep`` rows, round-robin over problems in their given order.

    Args:
        completions: raw completion texts per problem id.
        verdicts: one status per completion (``passed``, ``failed``, ``timeout``, ...).
        difficulties: the problem's difficulty label.
        keep: the row budget (0 keeps none).
    """
    rows: list[dict[str, Any]] = []
    depth = max((len(v) for v in completions.values()), default=0)
    for index in range(depth):
        for problem_id, texts in completions.items():
            if len(rows) >= keep:
                return rows
            if index < len(texts):
                verdict = str(verdicts[problem_id][index])
                rows.append(
                    {
                        "problem_id": problem_id,
                        "difficulty": str(difficulties.get(problem_id, "")),
                        "sample_index": index,
                        "verdict": verdict,
                        "passed": verdict == "passed",
                        "completion": texts[index],
                    }
                )
    return rows


def write_completions(out_dir: Path, rows: Sequence[dict[str, Any]]) -> Path:
    """Write the rows as ``completions.jsonl`` in ``out_dir``."""
    path = Path(out_dir) / COMPLETIONS_FILE
    with path.open("w") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")
    return path


def read_completions(eval_dir: str | Path) -> list[dict[str, Any]]:
    """The rows an evaluation kept; empty when it kept none (or predates the file)."""
    path = Path(eval_dir) / COMPLETIONS_FILE
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
