"""Prompt files load, de-duplicate by whitespace-normalised statement and render to chat turns."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ssd.config import DataConfig
from ssd.prompt_sets import load_prompt_set, normalize_whitespace, rows_to_problems

ROWS = [
    {"question_id": "a", "question": "Add two numbers.\nRead a and b.", "starter_code": ""},
    # The same statement up to whitespace: dropped.
    {"question_id": "a2", "question": "  Add two   numbers.\n\nRead a and b. ", "starter_code": ""},
    {
        "question_id": "b",
        "question": "Reverse a list.",
        "starter_code": "class Solution:\n    def rev(self, xs):\n        ",
        "response": "long text the loader must not need",
    },
    {"question_id": "c", "question": "Count vowels.", "starter_code": None},
]


def test_normalize_whitespace() -> None:
    assert normalize_whitespace(" a\n\tb  c \n") == "a b c"


def test_rows_to_problems_dedupes_and_keeps_ids() -> None:
    fields = {
        "question_field": "question",
        "starter_field": "starter_code",
        "id_field": "question_id",
    }
    problems = rows_to_problems(ROWS, fields)
    assert [p.problem_id for p in problems] == ["a", "b", "c"]
    assert [p.kind for p in problems] == ["stdin", "functional", "stdin"]
    assert problems[1].starter_code.startswith("class Solution")
    assert len(rows_to_problems(ROWS, fields, dedupe=False)) == 4


def test_ids_from_hash_are_stable_and_unique() -> None:
    fields = {"question_field": "question", "starter_field": None, "id_field": None}
    first = rows_to_problems(ROWS, fields)
    again = rows_to_problems(list(reversed(ROWS)), fields)
    assert {p.problem_id for p in first} == {p.problem_id for p in again}
    same_id = [{"id": "x", "question": "one"}, {"id": "x", "question": "two"}]
    ids = [p.problem_id for p in rows_to_problems(same_id, {**fields, "id_field": "id"})]
    assert ids == ["x", "x-2"]


def test_jsonl_loader_renders_template(tmp_path: Path) -> None:
    path = tmp_path / "prompts.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in ROWS) + "\n")
    data = DataConfig(name="jsonl", path=str(path), num_prompts=-1, id_field="question_id")
    prompts = load_prompt_set(data)
    assert [p.prompt_id for p in prompts] == ["a", "b", "c"]
    user = prompts[1].messages[-1]
    assert user["role"] == "user" and "Reverse a list." in user["content"]
    assert "class Solution" in user["content"]  # starter code rendered by the template
    assert prompts[0].metadata["kind"] == "stdin"
    lcb = load_prompt_set(
        DataConfig(name="jsonl", path=str(path), num_prompts=-1, template="lcb_generic")
    )
    assert [m["role"] for m in lcb[0].messages] == ["system", "user"]


def test_rstar_seed_layout_and_subset(tmp_path: Path) -> None:
    seed = tmp_path / "rStar-Coder" / "seed_sft"
    seed.mkdir(parents=True)
    table = pa.Table.from_pylist(ROWS)
    pq.write_table(table.slice(0, 2), seed / "data-00000-of-00002.parquet")
    pq.write_table(table.slice(2, 2), seed / "data-00001-of-00002.parquet")
    data = DataConfig(name="rstar_seed", path=str(tmp_path / "rStar-Coder"), num_prompts=-1)
    assert [p.prompt_id for p in load_prompt_set(data)] == ["a", "b", "c"]
    subset = DataConfig(name="rstar_seed", path=str(seed), num_prompts=2, seed=3)
    ids = [p.prompt_id for p in load_prompt_set(subset)]
    assert len(ids) == 2 and ids == sorted(ids)  # a subset, in file order
    assert ids == [p.prompt_id for p in load_prompt_set(subset)]  # seeded: same subset again


def test_bad_inputs_name_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="data.path"):
        load_prompt_set(DataConfig(name="jsonl", path=None))
    with pytest.raises(FileNotFoundError, match="data.path"):
        load_prompt_set(DataConfig(name="parquet", path=str(tmp_path)))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "no question field"}\n')
    with pytest.raises(ValueError, match="data.question_field"):
        load_prompt_set(DataConfig(name="jsonl", path=str(bad)))
