"""Unlabelled training prompts from files: JSONL, parquet, or the rStar-Coder seed subset.

Rows give a statement (``data.question_field``), optional starter code (``data.starter_field``) and
an optional id (``data.id_field``). Statements are de-duplicated after whitespace normalisation, as
the paper did for rStar-Coder's seed problems (about 10,168 remain), then rendered into chat turns
with the prompt template ``data.template`` (``ssd.prompts``).
Test: ``pytest tests/test_prompt_sets.py``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ssd.benchmarks.base import FUNCTIONAL, STDIN, Problem, TestCase
from ssd.records import Prompt

logger = logging.getLogger(__name__)

RSTAR_SEED_DIR = (
    "seed_sft"  # rStar-Coder: seed_sft/*.parquet (question_id, question, starter_code, ...)
)
RSTAR_FIELDS = {
    "question_field": "question",
    "starter_field": "starter_code",
    "id_field": "question_id",
}


def normalize_whitespace(text: str) -> str:
    """Collapse every whitespace run to one space and strip the ends (the de-duplication key)."""
    return " ".join(text.split())


def _files(path: Path, suffix: str) -> list[Path]:
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(path.rglob(f"*{suffix}"))
        if files:
            return files
    raise FileNotFoundError(
        f"data.path={str(path)!r}: no {suffix} file or folder of {suffix} files"
    )


def _jsonl_rows(path: Path) -> Iterator[dict[str, Any]]:
    for file in _files(path, ".jsonl"):
        with file.open() as handle:
            for line_no, line in enumerate(handle, 1):
                if line.strip():
                    try:
                        yield json.loads(line)
                    except json.JSONDecodeError as err:
                        raise ValueError(f"{file}:{line_no}: not valid JSON ({err})") from err


def _parquet_rows(path: Path, columns: list[str]) -> Iterator[dict[str, Any]]:
    import pyarrow.parquet as pq

    for file in _files(path, ".parquet"):
        # Only the needed columns: rStar-Coder's seed files are mostly long responses.
        present = set(pq.read_schema(file).names)
        if columns[0] not in present:  # the statement; starter code and id are optional
            raise ValueError(f"{file}: no column {columns[0]!r}; columns are {sorted(present)}")
        table = pq.read_table(file, columns=[c for c in columns if c in present])
        yield from table.to_pylist()


def read_rows(name: str, path: str | Path, fields: dict[str, str | None]) -> list[dict[str, Any]]:
    """Rows of a prompt file (``name`` = jsonl | parquet | rstar_seed) as plain dicts."""
    root = Path(path)
    if name == "jsonl":
        return list(_jsonl_rows(root))
    columns = [
        c
        for c in (
            fields["question_field"],
            fields["starter_field"],
            fields["id_field"],
            fields.get("tests_field"),
        )
        if c
    ]
    if name == "parquet":
        return list(_parquet_rows(root, columns))
    if name == "rstar_seed":
        seed_dir = root / RSTAR_SEED_DIR if (root / RSTAR_SEED_DIR).is_dir() else root
        return list(_parquet_rows(seed_dir, columns))
    raise ValueError(f"data.name={name!r} is invalid here: expected jsonl, parquet or rstar_seed")


def parse_tests(value: Any, kind: str) -> list[TestCase]:
    """Test cases of a row: a list of ``{input, output[, testtype]}`` or ``{inputs, outputs}``
    (rStar-Coder's layout), either as JSON text or as parsed values."""
    if isinstance(value, str):
        value = json.loads(value) if value.strip() else []
    if isinstance(value, dict) and "inputs" in value:
        value = [
            {"input": i, "output": o}
            for i, o in zip(value["inputs"], value["outputs"], strict=True)
        ]
    if not isinstance(value, list):
        raise ValueError(f"data.tests_field: expected a list of test cases, got {type(value)}")
    return [
        TestCase(str(t["input"]), str(t["output"]), str(t.get("testtype") or kind)) for t in value
    ]


def rows_to_problems(
    rows: list[dict[str, Any]], fields: dict[str, str | None], dedupe: bool = True
) -> list[Problem]:
    """Problems from rows, in file order; duplicates (same normalised statement) dropped.

    Ids come from ``fields["id_field"]`` when set, else from a hash of the normalised statement;
    a repeated id gets ``-2``, ``-3``, ... appended so every prompt id is unique.
    """
    question_field, starter_field, id_field = (
        fields["question_field"],
        fields["starter_field"],
        fields["id_field"],
    )
    assert question_field is not None
    problems: list[Problem] = []
    seen_text: set[str] = set()
    seen_ids: dict[str, int] = {}
    for index, row in enumerate(rows):
        if question_field not in row:
            raise ValueError(f"row {index} has no field {question_field!r} (data.question_field)")
        question = str(row[question_field] or "")
        key = normalize_whitespace(question)
        if not key or (dedupe and key in seen_text):
            continue
        seen_text.add(key)
        starter = str(row.get(starter_field) or "") if starter_field else ""
        if id_field and row.get(id_field) not in (None, ""):
            base_id = str(row[id_field])
        else:
            base_id = "q-" + hashlib.sha256(key.encode()).hexdigest()[:16]
        count = seen_ids.get(base_id, 0) + 1
        seen_ids[base_id] = count
        kind = FUNCTIONAL if starter.strip() else STDIN
        tests_field = fields.get("tests_field")
        problems.append(
            Problem(
                problem_id=base_id if count == 1 else f"{base_id}-{count}",
                question=question,
                kind=kind,
                starter_code=starter,
                tests=parse_tests(row.get(tests_field), kind) if tests_field else [],
            )
        )
    return problems


def load_prompt_set(data: Any, model: Any = None) -> list[Prompt]:
    """The prompts of ``data`` (``DataConfig``): read, de-duplicate, subsample, render.

    Args:
        data: ``name`` (jsonl | parquet | rstar_seed), ``path``, field names, ``dedupe``,
            ``num_prompts`` (-1: all; else a seeded random subset, kept in file order),
            ``seed`` and ``template``.
        model: unused; rendering into model text (chat template) is the backend's job.

    Returns:
        One ``Prompt`` per problem, with ``metadata`` holding the statement and starter code.
    """
    from ssd.prompts import render_messages

    if not data.path:
        raise ValueError(f"data.path is required for data.name={data.name!r} (a file or folder)")
    if data.name == "rstar_seed":
        fields: dict[str, str | None] = dict(RSTAR_FIELDS)
    else:
        fields = {
            "question_field": data.question_field,
            "starter_field": data.starter_field,
            "id_field": data.id_field,
        }
    fields["tests_field"] = data.tests_field
    rows = read_rows(data.name, data.path, fields)
    problems = rows_to_problems(rows, fields, dedupe=data.dedupe)
    logger.info("prompt set %s: %d rows -> %d problems", data.path, len(rows), len(problems))
    if data.num_prompts != -1 and data.num_prompts < len(problems):
        keep = set(random.Random(data.seed).sample(range(len(problems)), data.num_prompts))
        problems = [p for i, p in enumerate(problems) if i in keep]
    return [
        Prompt(
            prompt_id=p.problem_id,
            messages=render_messages(p, data.template),
            metadata={
                "question": p.question,
                "starter_code": p.starter_code,
                "kind": p.kind,
                # Hidden from the model; ssd.verify grades samples against them.
                **({"tests": [asdict(t) for t in p.tests]} if p.tests else {}),
            },
        )
        for p in problems
    ]
