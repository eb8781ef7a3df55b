"""LiveCodeBench loading, windows, private-test decoding and grading, on a fixture written in
the dataset's real schema.

Run: ``pytest tests/test_livecodebench.py`` (fixture: ``tests/fixtures/make_lcb_fixture.py``).
"""

from __future__ import annotations

import base64
import json
import os
import pickle
import zlib

import pytest
from fixtures.make_lcb_fixture import SOLUTIONS, write_lcb_fixture

from ssd.benchmarks import livecodebench, load_benchmark
from ssd.benchmarks.base import FUNCTIONAL, STDIN
from ssd.benchmarks.livecodebench import decode_private_tests
from ssd.evaluation.evaluate import grade_samples
from ssd.evaluation.execute import PASSED, WRONG_ANSWER, Executor


@pytest.fixture(scope="module")
def lcb_dir(tmp_path_factory):
    return write_lcb_fixture(tmp_path_factory.mktemp("lcb"))


@pytest.fixture(scope="module")
def executor():
    with Executor(workers=2, timeout_s=6.0) as ex:
        yield ex


def ids(problems):
    return [p.problem_id for p in problems]


def test_release_tags_read_cumulative_files(lcb_dir):
    assert ids(load_benchmark("lcb_release_v1", data_path=lcb_dir)) == [
        "abc050_c",
        "abc100_a",
        "3000",
    ]
    assert len(load_benchmark("lcb_release_v2", data_path=lcb_dir)) == 5
    with pytest.raises(FileNotFoundError, match="test3.jsonl"):
        load_benchmark("lcb_release_v3", data_path=lcb_dir)


def test_paper_windows_filter_by_contest_date(lcb_dir):
    assert ids(load_benchmark("lcb_v6", data_path=lcb_dir)) == ["abc100_a", "3000"]
    assert ids(load_benchmark("lcb_v5", data_path=lcb_dir)) == ["abc050_c", "1900_a"]
    assert ids(load_benchmark("lcb_v5", data_path=lcb_dir, limit=1)) == ["abc050_c"]


def test_fields_difficulty_and_private_tests(lcb_dir):
    by_id = {p.problem_id: p for p in load_benchmark("lcb_release_v2", data_path=lcb_dir)}
    total = by_id["abc100_a"]
    assert (total.kind, total.difficulty, total.entry_point) == (STDIN, "easy", "")
    assert [t.output for t in total.tests] == ["3\n", "30\n", "0\n"]  # public + decoded private
    pair = by_id["3000"]
    assert (pair.kind, pair.difficulty, pair.entry_point) == (FUNCTIONAL, "medium", "maxPair")
    assert pair.starter_code.startswith("class Solution:")
    assert by_id["abc050_c"].difficulty == "hard"
    assert pair.metadata["platform"] == "leetcode"


class _Evil:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (os.mkdir, (self.path,))


def test_hostile_pickle_is_refused_without_running(tmp_path):
    target = tmp_path / "pwned"
    raw = base64.b64encode(zlib.compress(pickle.dumps(_Evil(str(target))))).decode()
    with pytest.raises(pickle.UnpicklingError, match="only plain data"):
        decode_private_tests(raw)
    assert not target.exists()
    plain = [{"input": "1", "output": "2", "testtype": "stdin"}]
    assert decode_private_tests(json.dumps(plain)) == plain


def test_a_row_whose_tests_cannot_be_decoded_is_named_by_question_id(lcb_dir, tmp_path):
    target = tmp_path / "pwned"
    bad = base64.b64encode(zlib.compress(pickle.dumps(_Evil(str(target))))).decode()
    folder = tmp_path / "lcb"
    folder.mkdir()
    lines = (lcb_dir / "test.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    rows[1]["private_test_cases"] = bad
    (folder / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    qid = rows[1]["question_id"]
    with pytest.raises(ValueError, match=rf"question_id '{qid}' \(.*test.jsonl:2\).*only plain"):
        load_benchmark("lcb_release_v1", data_path=folder)
    assert not target.exists()


def test_no_download_unless_asked():
    with pytest.raises(ValueError, match="download=True"):
        load_benchmark("lcb_v6")


def test_download_and_cache_dir_reach_the_hub_fetch(lcb_dir, monkeypatch, tmp_path):
    calls = []

    def fake_download(files, cache_dir=None):
        calls.append((files, cache_dir))
        return lcb_dir

    monkeypatch.setattr(livecodebench, "download_files", fake_download)
    problems = load_benchmark("lcb_release_v2", download=True, cache_dir=tmp_path, limit=2)
    assert ids(problems) == ["abc050_c", "1900_a"]
    assert calls == [(["test.jsonl", "test2.jsonl"], tmp_path)]
    # A local folder wins: nothing is fetched even with download=True.
    load_benchmark("lcb_v6", data_path=lcb_dir, download=True)
    assert len(calls) == 1


def test_unknown_names_are_rejected():
    with pytest.raises(ValueError, match="allowed: humaneval, tinyworld, lcb_v5"):
        load_benchmark("lcb_v7")
    with pytest.raises(ValueError, match="allowed"):
        load_benchmark("lcb_release_vX")


def test_reference_solutions_pass_and_numeric_fallback(lcb_dir, executor):
    problems = load_benchmark("lcb_release_v2", data_path=lcb_dir)
    results = executor.run_many([(p, SOLUTIONS[p.problem_id]) for p in problems])
    assert [r.status for r in results] == [PASSED] * 5  # "3.00" == "3", "2.50" == "2.5"


def test_wrong_answer_on_last_private_test_only(lcb_dir, executor):
    (total,) = [
        p for p in load_benchmark("lcb_v6", data_path=lcb_dir) if p.problem_id == "abc100_a"
    ]
    result = executor.run(total, "a, b = map(int, input().split())\nprint(abs(a) + abs(b))\n")
    assert (result.status, result.failing_test, result.tests_run) == (WRONG_ANSWER, 2, 3)


def test_grade_samples_pass_at_k_by_difficulty(lcb_dir, executor, tmp_path):
    problems = load_benchmark("lcb_release_v1", data_path=lcb_dir)
    fence = "Here you go:\n```python\n{}```\n"
    completions = {
        "abc100_a": [fence.format(SOLUTIONS["abc100_a"]), "no code at all"],
        "3000": [fence.format(SOLUTIONS["3000"])] * 2,
        "abc050_c": [fence.format("print(0)\n"), fence.format("import sys\nsys.exit(3)\n")],
    }
    result = grade_samples(problems, completions, executor, ks=[1, 2])
    assert result.pass_at_k == {"pass@1": pytest.approx(0.5), "pass@2": pytest.approx(2 / 3)}
    assert result.by_difficulty == {
        "easy": {"pass@1": 0.5, "pass@2": 1.0},
        "hard": {"pass@1": 0.0, "pass@2": 0.0},
        "medium": {"pass@1": 1.0, "pass@2": 1.0},
    }
    rows = [json.loads(line) for line in (result.write(tmp_path) / "problems.jsonl").open()]
    assert rows[0] == {
        "problem_id": "abc050_c",
        "difficulty": "hard",
        "n": 2,
        "c": 0,
        "verdicts": ["wrong_answer", "runtime_error"],
        "details": rows[0]["details"],
    }
    assert rows[1]["verdicts"] == ["passed", "no_code"]
    summary = json.loads((tmp_path / "eval_results.json").read_text())
    assert summary["status_counts"]["passed"] == 3
    with pytest.raises(ValueError, match="each k"):
        grade_samples(problems, completions, executor, ks=[3])
