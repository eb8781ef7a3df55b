"""The T_eff fit on the paper's grids vs an independent least-squares computation, and the map
command on paper grids, sweep folders and Optuna storages."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from analysis import teff_map
from analysis.teff_fit import bootstrap_peak, fit_quadratic


def _paper_csv(name: str) -> pd.DataFrame:
    return pd.read_csv(teff_map.PAPER_DATA / name)


def _lstsq_reference(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """R^2 and vertex from numpy.linalg.lstsq with a [1, x, x^2] design (independent code)."""
    design = np.column_stack([np.ones_like(x), x, x * x])
    (c0, c1, c2), *_ = np.linalg.lstsq(design, y, rcond=None)
    predicted = design @ np.array([c0, c1, c2])
    r2 = 1 - np.sum((y - predicted) ** 2) / np.sum((y - np.mean(y)) ** 2)
    return float(r2), float(-c1 / (2 * c2))


@pytest.mark.parametrize(
    ("paper", "file", "rows"),
    [
        ("qwen3_30b", "qwen3_30b_instruct_no_truncation_grid.csv", 50),
        ("qwen3_4b_thinking", "qwen3_4b_thinking_grid.csv", 156),
    ],
)
def test_paper_grid_fit_matches_independent_lstsq(paper: str, file: str, rows: int) -> None:
    frame = _paper_csv(file)
    assert len(frame) == rows
    x = (frame["t_train"] * frame["t_eval"]).to_numpy()
    r2, peak = _lstsq_reference(x, frame["pass_at_1"].to_numpy(dtype=float))
    fits = teff_map.fit_study(teff_map.load_paper_grid(paper), n_boot=200)
    fit = next(f for f in fits if f.metric == "pass@1")
    assert fit.fit.n == rows
    assert fit.fit.r2 == pytest.approx(r2, abs=1e-9)
    assert fit.fit.peak_x == pytest.approx(peak, abs=1e-9)
    assert fit.fit.status == "ok"
    assert fit.interval.low < fit.fit.peak_x < fit.interval.high


def test_paper_30b_numbers_agree_with_the_paper_text() -> None:
    # The paper reports R^2 = 0.75 and a peak "near 1.2"; the published grid gives 0.738 and 1.32.
    frame = _paper_csv("qwen3_30b_instruct_no_truncation_grid.csv")
    fit = fit_quadratic(frame["t_train"] * frame["t_eval"], frame["pass_at_1"])
    assert fit.r2 == pytest.approx(0.7382, abs=1e-3)
    assert fit.peak_x == pytest.approx(1.3166, abs=1e-3)
    assert abs(fit.r2 - 0.75) < 0.02 and abs(fit.peak_x - 1.2) < 0.15


def test_convex_and_out_of_range_fits_are_reported() -> None:
    x = np.linspace(0.5, 2.0, 10)
    assert fit_quadratic(x, x**2).status == "convex"
    outside = fit_quadratic(x, -((x - 5.0) ** 2))
    assert outside.concave and not outside.peak_in_range
    assert outside.status == "peak outside data"
    assert outside.peak_x == pytest.approx(5.0)


def test_bad_input_is_rejected() -> None:
    with pytest.raises(ValueError, match="3 distinct"):
        fit_quadratic([1.0, 1.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="level"):
        bootstrap_peak([1.0, 2.0, 3.0], [1.0, 2.0, 1.0], level=1.5)
    with pytest.raises(ValueError, match="--paper"):
        teff_map.load_paper_grid("gpt5")


def test_run_bootstrap_brackets_the_vertex_of_noisy_quadratic() -> None:
    rng = np.random.default_rng(1)
    x = np.repeat(np.linspace(0.4, 2.0, 9), 3)
    y = -((x - 1.1) ** 2) + rng.normal(0, 0.02, len(x))
    interval = bootstrap_peak(x, y, n_boot=500, seed=0)
    assert interval.resampled == "runs"
    assert interval.low < 1.1 < interval.high
    assert interval.high - interval.low < 0.1


def _write_trial(folder, number, t_train, t_eval, top_k, ssd, base, problems=None):
    trial = folder / str(number)
    trial.mkdir(parents=True)
    results = {
        "t_train": t_train,
        "t_eval": t_eval,
        "t_eff": t_train * t_eval,
        "ssd": {
            "pass@1": ssd,
            "pass@5": ssd + 0.1,
            "eval_dir": "eval",
            "by_difficulty": {"easy": {"pass@1": ssd + 0.2}, "hard": {"pass@1": ssd - 0.1}},
        },
        "base": {
            "pass@1": base,
            "pass@5": base + 0.1,
            "by_difficulty": {"easy": {"pass@1": base + 0.2}, "hard": {"pass@1": base - 0.1}},
        },
        "config": {"sampling": {"temperature": t_train, "top_k": top_k, "top_p": 1.0}},
    }
    (trial / "results.json").write_text(json.dumps(results))
    if problems is not None:
        (trial / "eval").mkdir()
        lines = [
            json.dumps({"problem_id": f"p{i}", "difficulty": "easy", "n": 5, "c": c})
            for i, c in enumerate(problems)
        ]
        (trial / "eval" / "problems.jsonl").write_text("\n".join(lines) + "\n")


def test_sweep_folder_groups_by_truncation_and_converts_to_percent(tmp_path) -> None:
    number = 0
    for top_k in (0, 10):
        for t_train in (0.5, 1.0, 1.5):
            for t_eval in (0.6, 1.0):
                t_eff = t_train * t_eval
                value = 0.5 - 0.1 * (t_eff - 1.0) ** 2
                _write_trial(tmp_path, number, t_train, t_eval, top_k, value, 0.4)
                number += 1
    study = teff_map.load_sweep_dir(tmp_path)
    assert sorted(study.runs["group"].unique()) == ["no truncation", "top-k 10"]
    assert study.runs["pass@1"].max() == pytest.approx(50.0)
    assert study.runs["base_pass@1_easy"].iloc[0] == pytest.approx(60.0)
    fits = teff_map.fit_study(study, n_boot=100)
    metrics = ("pass@1", "pass@5", "pass@1_easy", "pass@1_hard")
    assert {(f.group, f.metric) for f in fits} == {
        (g, m) for g in ("no truncation", "top-k 10") for m in metrics
    }
    for item in fits:
        assert item.fit.peak_x == pytest.approx(1.0, abs=1e-9)
        assert item.fit.r2 == pytest.approx(1.0)
        assert item.interval.resampled == "runs"


def test_trials_csv_alone_is_enough(tmp_path) -> None:
    rows = [
        {
            "number": i,
            "state": "COMPLETE",
            "value": 0.3 + 0.01 * i,
            "params_sampling.temperature": t,
            "params_evaluation.temperature": 1.0,
            "user_attrs_t_eff": t,
            "user_attrs_base.pass@1": 0.25,
        }
        for i, t in enumerate((0.5, 0.8, 1.1, 1.4))
    ] + [
        {
            "number": 9,
            "state": "FAIL",
            "value": None,
            "params_sampling.temperature": 2.0,
            "params_evaluation.temperature": 1.0,
        }
    ]
    pd.DataFrame(rows).to_csv(tmp_path / "trials.csv", index=False)
    study = teff_map.load_sweep_dir(tmp_path)
    assert list(study.runs["number"]) == [0, 1, 2, 3]
    assert study.runs["pass@1"].tolist() == pytest.approx([30.0, 31.0, 32.0, 33.0])
    assert (study.runs["group"] == "no truncation").all()


def test_per_problem_results_drive_the_bootstrap(tmp_path) -> None:
    rng = np.random.default_rng(0)
    for number, t_eff in enumerate(np.linspace(0.5, 1.5, 6)):
        p = 0.6 - 0.4 * (t_eff - 1.0) ** 2
        correct = rng.binomial(5, p, 40).tolist()
        _write_trial(tmp_path, number, t_eff, 1.0, 0, float(np.mean(correct)) / 5, 0.3, correct)
    study = teff_map.load_sweep_dir(tmp_path)
    assert len(study.problems) == 6
    matrix = teff_map.per_problem_matrix(study, list(range(6)), "pass@1")
    assert matrix.shape == (6, 40)
    assert matrix.mean(axis=1) == pytest.approx(study.runs["pass@1"].to_numpy())
    fit = next(f for f in teff_map.fit_study(study, n_boot=200) if f.metric == "pass@1")
    assert fit.interval.resampled == "problems"


def test_optuna_journal_storage_is_read(tmp_path) -> None:
    import optuna
    from optuna.distributions import FloatDistribution
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    path = tmp_path / "journal.log"
    study = optuna.create_study(
        study_name="s", storage=JournalStorage(JournalFileBackend(str(path))), direction="maximize"
    )
    dist = {
        "sampling.temperature": FloatDistribution(0.1, 3.0),
        "evaluation.temperature": FloatDistribution(0.1, 3.0),
    }
    for t in (0.5, 1.0, 1.5, 2.0):
        study.add_trial(
            optuna.trial.create_trial(
                params={"sampling.temperature": t, "evaluation.temperature": 0.8},
                distributions=dist,
                value=0.5 - 0.1 * (t * 0.8 - 1.0) ** 2,
                user_attrs={"t_eff": t * 0.8, "ssd.pass@1": 0.5 - 0.1 * (t * 0.8 - 1.0) ** 2},
            )
        )
    loaded = teff_map.load_optuna_study(str(path), "s")
    assert loaded.runs["t_eff"].tolist() == pytest.approx([0.4, 0.8, 1.2, 1.6])
    fit = next(f for f in teff_map.fit_study(loaded, n_boot=50) if f.metric == "pass@1")
    assert fit.fit.peak_x == pytest.approx(1.0)


@pytest.mark.integration  # renders figures: ~1 s on a loaded 2-core machine
def test_command_writes_figures_and_tables_beside_the_paper(tmp_path) -> None:
    out = tmp_path / "out"
    teff_map.main(
        [
            "--paper",
            "qwen3_4b_thinking",
            "--compare-paper",
            "qwen3_30b",
            "--out",
            str(out),
            "--n-boot",
            "100",
        ]
    )
    for name in ("teff_fit.png", "heatmap.png", "fits.csv", "fits.md", "runs.csv"):
        assert (out / name).stat().st_size > 0
    table = pd.read_csv(out / "fits.csv")
    assert set(table["study"]) == {"paper Qwen3-4B-Thinking", "paper Qwen3-30B-A3B-Instruct"}
    assert "| r2 |" in (out / "fits.md").read_text()


def test_difficulty_fits_use_only_that_difficultys_problems(tmp_path) -> None:
    rng = np.random.default_rng(0)
    for number, t_eff in enumerate(np.linspace(0.5, 1.5, 5)):
        trial = tmp_path / str(number)
        (trial / "eval").mkdir(parents=True)
        records = []
        for i in range(30):
            level, p = ("easy", 0.9) if i < 20 else ("hard", 0.5 - 0.4 * (t_eff - 1.2) ** 2)
            records.append(
                {"problem_id": f"p{i}", "difficulty": level, "n": 5, "c": int(rng.binomial(5, p))}
            )
        (trial / "eval" / "problems.jsonl").write_text("\n".join(map(json.dumps, records)))
        hard = np.mean([r["c"] / 5 for r in records if r["difficulty"] == "hard"])
        results = {
            "t_train": t_eff,
            "t_eval": 1.0,
            "t_eff": t_eff,
            "ssd": {"pass@1": 0.5, "eval_dir": "eval", "by_difficulty": {"hard": {"pass@1": hard}}},
        }
        (trial / "results.json").write_text(json.dumps(results))
    study = teff_map.load_sweep_dir(tmp_path)
    assert "pass@1_hard" in teff_map.study_metrics(study.runs)
    matrix = teff_map.per_problem_matrix(study, list(range(5)), "pass@1_hard")
    assert matrix.shape == (5, 10)
    assert matrix.mean(axis=1) == pytest.approx(study.runs["pass@1_hard"].to_numpy())
    result = teff_map.analyse(study, tmp_path / "out", n_boot=50)
    assert result["figures"]["teff_by_difficulty"].exists()
    assert "pass@1_hard" in set(result["table"]["metric"])


@pytest.mark.integration  # importing ssd.config (Hydra) takes ~2 s
def test_wandb_flag_goes_through_the_tracking_module(tmp_path, monkeypatch) -> None:
    # conftest disables W&B, so open_run yields None and logging is a no-op: this checks the
    # plumbing (TrackingConfig, open_run, log_table, log_image signatures) without a run folder.
    monkeypatch.setenv("WANDB_MODE", "disabled")
    teff_map.main(
        [
            "--paper",
            "qwen3_30b",
            "--out",
            str(tmp_path),
            "--n-boot",
            "20",
            "--wandb-mode",
            "offline",
        ]
    )
    assert (tmp_path / "teff_fit.png").exists() and not (tmp_path / "wandb").exists()


def test_sweeps_that_vary_evaluation_truncation_are_split(tmp_path) -> None:
    rows = [
        {
            "number": i,
            "state": "COMPLETE",
            "value": 0.3,
            "params_sampling.temperature": t,
            "params_evaluation.temperature": 1.0,
            "params_evaluation.top_p": top_p,
        }
        for i, (t, top_p) in enumerate((t, p) for p in (0.8, 1.0) for t in (0.5, 1.0, 1.5))
    ]
    pd.DataFrame(rows).to_csv(tmp_path / "trials.csv", index=False)
    groups = set(teff_map.load_sweep_dir(tmp_path).runs["group"])
    assert groups == {"no truncation | eval top-p 0.8", "no truncation | eval no truncation"}
