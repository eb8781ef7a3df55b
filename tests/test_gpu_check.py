"""scripts/gpu_check.py, the one prepared device script: its help and its CPU dry run.

The quick dry run walks the same four steps on tiny-random (hf backend, stages in-process); the
full dry run (isolated stages, as on the GPU) is the ``slow`` test. On a GPU host the script
itself is the check (docs/gpu.md).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "gpu_check.py"


def run_script(*args: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.integration
def test_help_names_the_steps_and_the_dry_run() -> None:
    proc = run_script("--help", timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    for text in ("--dry-run", "distributions", "isolate_stages=true", "MFU", "docs/gpu.md"):
        assert text in proc.stdout


def _check_summary(out: Path, proc: subprocess.CompletedProcess[str]) -> dict:
    assert proc.returncode == 0, (proc.stdout[-3000:], proc.stderr[-3000:])
    assert proc.stdout.strip().splitlines()[-1] == "gpu_check: OK"
    for step in ("1/4 model", "2/4 next-token", "3/4 pipeline", "4/4 throughput"):
        assert step in proc.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["dry_run"] and summary["distributions"]["ok"]
    assert {"base", "ssd", "ideal", "training"} <= set(summary["pipeline"])
    assert summary["throughput"]["sampling_tokens_per_s"] > 0
    return summary


@pytest.mark.integration
def test_quick_dry_run_walks_every_step(tmp_path: Path) -> None:
    proc = run_script("--dry-run", "--quick", "--out", str(tmp_path))
    _check_summary(tmp_path, proc)


@pytest.mark.slow
def test_full_dry_run_with_isolated_stages(tmp_path: Path) -> None:
    proc = run_script("--dry-run", "--out", str(tmp_path), "--peak-tflops", "1")
    summary = _check_summary(tmp_path, proc)
    assert set(summary["pipeline"]["timings"]) == {
        "eval_base", "samples", "train", "eval_ssd", "eval_ideal",
    }  # fmt: skip
    assert summary["throughput"]["sampling_mfu"] is not None
