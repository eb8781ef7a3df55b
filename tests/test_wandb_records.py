"""What the W&B runs carry, read back as records from real offline runs (ssd.tracking).

`read_offline_run` decodes the run file with wandb's own protobuf `Record`, so these tests check
what W&B would receive: a tiny-world trial's SFT curves (loss, lr by `sft/step`), its completions
tables with verdicts, timings and metrics, and the sweep summary run's native charts
(line series and scatter of pass@1 vs T_eff) and tables.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from fixtures.sweep_results import synthetic_results
from omegaconf import DictConfig

from ssd import tracking
from ssd.config import RunConfig
from ssd.evaluation.completions import sample_rows
from ssd.evaluation.execute import STATUSES
from ssd.pipeline import run_tracked
from ssd.sweep_summary import summarize
from ssd.tracking import COMPLETION_COLUMNS, OfflineRun, read_offline_run, teff_series


def _only_run(folder: Path) -> OfflineRun:
    runs = sorted(folder.glob("wandb/offline-run-*"))
    assert len(runs) == 1, runs
    run = read_offline_run(runs[0])
    assert run.finished  # the exit record: the run was finished and flushed
    return run


def _flat(pairs: list) -> list[float]:
    return [float(v) for pair in pairs for v in pair]


def _keys(config: dict, prefix: str = "") -> set[str]:
    out: set[str] = set()
    for key, value in config.items():
        if key == "_wandb":
            continue
        out |= _keys(value, f"{prefix}{key}.") if isinstance(value, dict) else {prefix + key}
    return out


def test_completions_sample_is_bounded_and_round_robin() -> None:
    texts = {"a": ["a0", "a1", "a2"], "b": ["b0"], "c": ["c0", "c1"]}
    verdicts = {"a": ["passed", "failed", "passed"], "b": ["timeout"], "c": ["failed", "passed"]}
    rows = sample_rows(texts, verdicts, {"a": "easy"}, keep=4)
    assert [(r["problem_id"], r["sample_index"]) for r in rows] == [
        ("a", 0),
        ("b", 0),
        ("c", 0),
        ("a", 1),
    ]
    assert [r["passed"] for r in rows] == [True, False, False, False]
    assert rows[0]["difficulty"] == "easy" and rows[1]["verdict"] == "timeout"
    assert sample_rows(texts, verdicts, {}, keep=0) == []


def test_teff_series_per_setting_with_base_and_ideal() -> None:
    trials = [
        {
            "t_train": tt,
            "t_eval": te,
            "t_eff": tt * te,
            "truncation": "none",
            "base": {"pass@1": 0.1 * te},
            "ssd": {"pass@1": 0.2 * tt * te},
            "ideal": {"pass@1": 0.3},
        }
        for tt in (0.8, 1.0)
        for te in (1.5, 1.0)
    ]
    series = teff_series(trials)
    assert list(series) == [
        "SSD T_train 0.8, trunc none",
        "ideal T_train 0.8, trunc none",
        "SSD T_train 1, trunc none",
        "ideal T_train 1, trunc none",
        "base (x = T_eval)",
    ]
    assert _flat(series["SSD T_train 0.8, trunc none"]) == pytest.approx([0.8, 0.16, 1.2, 0.24])
    assert _flat(series["base (x = T_eval)"]) == pytest.approx([1.0, 0.1, 1.5, 0.15])


@pytest.mark.integration
def test_tiny_world_trial_run_holds_sft_curves_and_completions(
    compose_cfg: Callable[..., DictConfig], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WANDB_MODE", raising=False)
    cfg = compose_cfg(
        [
            "model=tiny",
            "training=sft_smoke",
            "training.max_steps=3",  # 3 SFT steps, a log line each
            "training.logging_steps=1",
            "training.per_device_train_batch_size=2",
            "training.max_length=128",
            "training.torch_threads=1",
            "data.num_prompts=4",
            "sampling.max_tokens=40",
            "evaluation.num_problems=2",
            "evaluation.n=2",
            "evaluation.k=[1]",
            "evaluation.max_tokens=40",
            "evaluation.workers=1",
            "evaluation.include_ideal=false",
            "evaluation.keep_completions=3",
            "tracking=wandb",
            f"tracking.dir={tmp_path}/wb",
        ]
    )
    run = RunConfig.from_dictconfig(cfg)
    results = run_tracked(run, tmp_path / "run")
    wb = _only_run(tmp_path / "wb")

    # SFT curves: the trainer's loss and learning rate at every logged step, against sft/step.
    loss = wb.series("sft/loss", step="sft/step")
    expected = [(e["step"], e["loss"]) for e in results["training"]["log"]]
    assert len(loss) >= 3 and _flat(loss) == pytest.approx(_flat(expected))
    assert [s for s, _ in loss] == sorted({s for s, _ in loss})  # distinct, increasing steps
    assert len(wb.series("sft/lr", step="sft/step")) == len(loss)
    # In-process SFT streamed them live (the artifact's copy was not logged a second time).
    assert tracking._STREAMED and wb.path.stem.removeprefix("run-") in tracking._STREAMED

    # One completions table per evaluated policy, bounded by keep_completions, with verdicts.
    for policy in ("base", "ssd"):
        table = wb.tables[f"completions/{policy}"]
        assert table["columns"] == list(COMPLETION_COLUMNS)
        assert 0 < len(table["data"]) <= 3
        rows = [dict(zip(table["columns"], row, strict=True)) for row in table["data"]]
        assert {r["verdict"] for r in rows} <= set(STATUSES)
        assert all(r["passed"] == (r["verdict"] == "passed") for r in rows)
        assert all(isinstance(r["completion"], str) for r in rows)

    # Stage timings and metrics in the summary; the whole RunConfig as the run's config.
    assert wb.summary["timings.train"] == pytest.approx(results["timings"]["train"])
    assert wb.summary["ssd.pass@1"] == pytest.approx(results["ssd"]["pass@1"])
    assert wb.config["sampling"]["temperature"] == 1.0
    assert {"sampling.temperature", "evaluation.temperature", "sampling.top_p"} <= _keys(wb.config)


@pytest.mark.integration
def test_trials_share_config_keys(
    compose_cfg: Callable[..., DictConfig], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Parallel coordinates and group-by need the same keys in every trial's config."""
    monkeypatch.delenv("WANDB_MODE", raising=False)
    keys = []
    for i, t in enumerate((0.7, 1.3)):
        overrides = ["model=toy", "training=ideal", f"sampling.temperature={t}"]
        if i:  # a trial of a sweep: the sweeper fills in `trial`
            overrides += ["+trial.number=1", "+trial.study=teff_toy", "+trial.name=teff_toy-1"]
        cfg = compose_cfg([*overrides, "tracking=wandb", f"tracking.dir={tmp_path}/wb{i}"])
        run_tracked(RunConfig.from_dictconfig(cfg), tmp_path / f"run{i}")
        wb = _only_run(tmp_path / f"wb{i}")
        assert wb.config["sampling"]["temperature"] == t
        keys.append(_keys(wb.config))
    assert keys[0] == keys[1]


def _write_sweep(folder: Path) -> list[tuple[float, float]]:
    grid = [(t_train, t_eval) for t_train in (0.8, 1.0) for t_eval in (0.6, 1.2, 1.8)]
    rows = []
    for number, (t_train, t_eval) in enumerate(grid):
        results = synthetic_results(t_train, t_eval, top_p=0.95)
        (folder / str(number)).mkdir(parents=True)
        (folder / str(number) / "results.json").write_text(json.dumps(results))
        rows.append({"number": number, "state": "COMPLETE", "value": results["objective"]})
    pd.DataFrame(rows).to_csv(folder / "trials.csv", index=False)
    return grid


@pytest.mark.integration
def test_summary_run_holds_native_charts_and_tables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WANDB_MODE", raising=False)
    sweep_dir = tmp_path / "sweep"
    grid = _write_sweep(sweep_dir)
    summarize(sweep_dir, "teff_tiny", {"mode": "offline", "dir": str(tmp_path / "wb")})
    wb = _only_run(tmp_path / "wb")

    charts = {k: v["panel_config"]["panelDefId"] for k, v in wb.charts.items()}
    assert charts == {
        "charts/pass_vs_teff": "wandb/lineseries/v0",
        "charts/ssd_scatter": "wandb/scatter/v0",
    }
    # The line chart's data: one series per T_train (truncation p0.95), ideal beside, base.
    lines = wb.tables["charts/pass_vs_teff_table"]
    assert lines["columns"] == ["step", "lineKey", "lineVal"]
    by_key: dict[str, list[tuple[float, float]]] = {}
    for x, key, y in lines["data"]:
        by_key.setdefault(key, []).append((x, y))
    assert set(by_key) == {
        "SSD T_train 0.8, trunc p0.95",
        "ideal T_train 0.8, trunc p0.95",
        "SSD T_train 1, trunc p0.95",
        "ideal T_train 1, trunc p0.95",
        "base (x = T_eval)",
    }
    ssd_08 = [(0.8 * te, 0.5 - (0.8 * te - 1.2) ** 2) for te in (0.6, 1.2, 1.8)]
    assert _flat(by_key["SSD T_train 0.8, trunc p0.95"]) == pytest.approx(_flat(ssd_08))
    # The scatter's table: one row per trial; the trials table as logged by the summary.
    points = wb.tables["teff_points"]
    assert len(points["data"]) == len(grid) and "t_eff" in points["columns"]
    assert wb.tables["charts/ssd_scatter_table"]["data"] == points["data"]
    assert len(wb.tables["trials"]["data"]) == len(grid)
    assert wb.summary["n_complete"] == len(grid)
