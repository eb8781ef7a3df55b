"""A bad `hydra.sweeper.*` setting: one line naming the key, exit 2, nothing left behind.

Through the real `ssd -m` command on the toy: the sweeper's nodes (inner search, fidelity,
screening, pruner) are checked when Hydra builds the sweeper, before the sweep folder or the
study's journal exists, so a corrected rerun starts a fresh study (hydra_plugins/.../_checks.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CASES = {
    "inner-method": (
        ["hydra.sweeper.inner.method=golden"],
        "hydra.sweeper.inner.method: expected one of ('grid', 'bracket', 'optuna'), got 'golden'",
    ),
    "fidelity-type": (
        ["hydra.sweeper.fidelity.every_steps=ten"],
        "hydra.sweeper.fidelity.every_steps='ten': expected an integer >= 1",
    ),
    "pruner-value": (
        ["hydra/sweeper/pruner=successive_halving", "hydra.sweeper.pruner.reduction_factor=1"],
        "hydra.sweeper.pruner (optuna.pruners.SuccessiveHalvingPruner): ValueError:",
    ),
    "screen-missing": (
        ["hydra.sweeper.screen.study=teff_screen_toy"],
        "hydra.sweeper.screen.study=teff_screen_toy: expected a finished screening study, "
        "but there is no journal at",
    ),
}


def test_bad_sweeper_settings_are_one_line_exit_2_and_leave_nothing(tmp_path: Path) -> None:
    # The commands run side by side (each is a Python start-up and a config composition).
    procs = {}
    for name, (overrides, _) in CASES.items():
        out = tmp_path / name
        env = {**os.environ, "SSD_OUTPUT_DIR": str(out), "WANDB_MODE": "disabled"}
        args = [sys.executable, "-m", "ssd.cli", "-m", "+sweep=teff", "model=toy", *overrides]
        procs[name] = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
    for name, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 2, (name, stderr[-2000:])
        lines = stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("ssd: invalid config: "), (name, stderr)
        assert CASES[name][1] in lines[0], (name, lines[0])
        assert "Traceback" not in stdout + stderr, name
        # No sweep folder, journal, cache or W&B run: a later run cannot take it for a study.
        assert not (tmp_path / name).exists(), (name, sorted((tmp_path / name).rglob("*")))
