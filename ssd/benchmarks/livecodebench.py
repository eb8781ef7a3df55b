"""LiveCodeBench ``code_generation_lite`` from its JSONL files (local folder or hub download).

Versions: ``v5`` / ``v6`` are the paper's contest-date windows, half-open:
v5 = [2024-08-01, 2025-02-01), v6 = [2025-02-01, 2025-06-01), taken from every file present;
``release_vN`` is the dataset's cumulative tag = files test.jsonl, test2.jsonl .. testN.jsonl.
Tests are public + private (as LiveCodeBench grades). Private tests are JSON or
base64 -> zlib -> pickle -> JSON; the pickle is read by an unpickler that refuses every class,
so only plain data (str, list, dict, numbers) can come out. A row whose tests cannot be decoded
that way stops the load with an error naming its file, line and question_id (not skipped: a
pass rate over a silently smaller problem set would not be comparable to published numbers).
Tests: ``pytest tests/test_livecodebench.py``.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import pickle
import zlib
from datetime import datetime
from pathlib import Path
from typing import Any

from ssd.benchmarks.base import FUNCTIONAL, STDIN, Problem, TestCase

logger = logging.getLogger(__name__)

HUB_REPO = "livecodebench/code_generation_lite"
WINDOWS = {
    "v5": (datetime(2024, 8, 1), datetime(2025, 2, 1)),
    "v6": (datetime(2025, 2, 1), datetime(2025, 6, 1)),
}
MAX_RELEASE = 6  # files published so far: test.jsonl .. test6.jsonl


def release_files(n: int) -> list[str]:
    """The JSONL files of tag ``release_vN``."""
    return ["test.jsonl"] + [f"test{i}.jsonl" for i in range(2, n + 1)]


class _PlainDataUnpickler(pickle.Unpickler):
    """Refuses every global: a hostile pickle cannot name a callable to run."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"refusing {module}.{name}: only plain data is allowed")


def decode_private_tests(raw: str) -> list[dict[str, Any]]:
    """Decode ``private_test_cases``: JSON, or base64 -> zlib -> (restricted) pickle -> JSON."""
    try:
        decoded: Any = json.loads(raw)
    except ValueError:
        data = _PlainDataUnpickler(io.BytesIO(zlib.decompress(base64.b64decode(raw)))).load()
        decoded = json.loads(data) if isinstance(data, str | bytes) else data
    if not isinstance(decoded, list) or not all(isinstance(t, dict) for t in decoded):
        raise ValueError("private_test_cases must decode to a list of test objects")
    return decoded


def _problem(row: dict[str, Any]) -> Problem:
    raw_tests = json.loads(row["public_test_cases"]) + decode_private_tests(
        row["private_test_cases"]
    )
    tests = [TestCase(str(t["input"]), str(t["output"]), t["testtype"]) for t in raw_tests]
    kind = FUNCTIONAL if tests and tests[0].testtype == FUNCTIONAL else STDIN
    metadata = json.loads(row.get("metadata") or "{}")
    return Problem(
        problem_id=str(row["question_id"]),
        question=row["question_content"],
        kind=kind,
        starter_code=row.get("starter_code") or "",
        entry_point=metadata.get("func_name", "") if kind == FUNCTIONAL else "",
        difficulty=str(row.get("difficulty") or "unknown").lower(),
        tests=tests,
        metadata={
            "question_title": row.get("question_title", ""),
            "platform": row.get("platform", ""),
            "contest_id": row.get("contest_id", ""),
            "contest_date": row["contest_date"],
        },
    )


def _decoded(row: dict[str, Any], where: str) -> Problem:
    """``_problem(row)``, with any decoding failure named by the row's question_id."""
    try:
        return _problem(row)
    except Exception as exc:
        message = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise ValueError(
            f"LiveCodeBench question_id {row.get('question_id')!r} ({where}): its tests cannot "
            f"be decoded safely: {message}"
        ) from exc


def download_files(files: list[str], cache_dir: str | Path | None = None) -> Path:
    """Fetch ``files`` of the hub dataset one by one; returns the local folder holding them."""
    from huggingface_hub import hf_hub_download

    paths = [
        hf_hub_download(HUB_REPO, name, repo_type="dataset", cache_dir=cache_dir) for name in files
    ]
    return Path(paths[0]).parent


def load_livecodebench(
    data_path: str | Path | None = None,
    *,
    version: str,
    limit: int | None = None,
    download: bool = False,
    cache_dir: str | Path | None = None,
) -> list[Problem]:
    """Load a LiveCodeBench slice, sorted by (contest date, question id).

    Args:
        data_path: folder with test.jsonl, test2.jsonl, ... (None: needs ``download=True``).
        version: ``v5``, ``v6`` (date windows) or ``release_vN`` (cumulative tag).
        limit: keep the first ``limit`` problems (None or -1: all).
        download: fetch the files from the hub when no ``data_path`` is given.
        cache_dir: hub cache folder for the download.

    Returns:
        Problems with difficulty (easy/medium/hard) and public + private tests.
    """
    if version in WINDOWS:
        files, window = release_files(MAX_RELEASE), WINDOWS[version]
    elif version.startswith("release_v") and version[9:].isdigit() and int(version[9:]) >= 1:
        files, window = release_files(int(version[9:])), None
    else:
        raise ValueError(f"unknown LiveCodeBench version {version!r}; allowed: v5, v6, release_vN")
    if data_path is None:
        if not download:
            raise ValueError(
                "LiveCodeBench needs data_path (a folder of test*.jsonl) or download=True"
            )
        data_path = download_files(files, cache_dir)
    folder = Path(data_path)
    present = [folder / name for name in files if (folder / name).is_file()]
    if window is None and len(present) < len(files):
        missing = sorted(set(files) - {p.name for p in present})
        raise FileNotFoundError(f"{version} needs {missing} in {folder}")
    if not present:
        raise FileNotFoundError(f"no LiveCodeBench test*.jsonl files in {folder}")
    problems: dict[str, Problem] = {}
    for path in present:
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                row = json.loads(line)
                date = datetime.fromisoformat(row["contest_date"])
                if window is not None and not window[0] <= date < window[1]:
                    continue  # skip before decoding the (large) private tests
                qid = str(row.get("question_id"))
                if qid not in problems:
                    problems[qid] = _decoded(row, f"{path}:{number}")
    ordered = sorted(problems.values(), key=lambda p: (p.metadata["contest_date"], p.problem_id))
    logger.info("LiveCodeBench %s: %d problems from %d files", version, len(ordered), len(present))
    return ordered if limit is None or limit < 0 else ordered[:limit]
