"""Cost accounting: what each toy trial computed lands in results.json["cost"]; hits cost 0."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from omegaconf import DictConfig

from ssd.config import RunConfig
from ssd.cost import COUNTERS, format_cost, total_cost
from ssd.pipeline import run_trial

FAST_TOY = ["model=toy", "sampling.n=2000", "evaluation.num_problems=40", "training.sgd.steps=30"]


def trial(compose_cfg: Callable[..., DictConfig], out: Path, overrides: list[str]) -> dict:
    return run_trial(RunConfig.from_dictconfig(compose_cfg([*FAST_TOY, *overrides])), out)


def test_cost_counts_what_ran_and_a_cache_hit_costs_nothing(
    compose_cfg: Callable[..., DictConfig], tmp_path: Path
) -> None:
    first = trial(compose_cfg, tmp_path / "a", [])
    cost = first["cost"]
    assert set(COUNTERS) <= set(cost)
    assert cost["samplings"] == 1 and cost["sampled_prompts"] == 1
    assert cost["sampled_tokens"] >= 2000  # every toy sample has at least one token
    assert cost["trainings"] == 1 and cost["sft_steps"] == 30
    assert cost["sft_tokens"] == 30 * cost["sampled_tokens"]  # full-batch steps
    assert cost["evaluations"] == 3  # base, ssd, ideal
    assert cost["evaluated_programs"] == 3 * 40 * 10
    assert cost["wall_s"] > 0 and cost["gpu_s"] == 0  # CPU only
    assert set(cost["stages"]) == {"eval_base", "samples", "train", "eval_ssd", "eval_ideal"}
    assert total_cost(cost["stages"].values())["sft_steps"] == 30

    # Only T_eval changes: samples and student come from the cache and cost nothing.
    second = trial(compose_cfg, tmp_path / "b", ["evaluation.temperature=1.3"])
    assert second["cost"]["trainings"] == second["cost"]["samplings"] == 0
    assert second["cost"]["sft_steps"] == 0 and second["cost"]["evaluations"] == 3
    again = trial(compose_cfg, tmp_path / "c", [])
    assert again["cost"]["evaluations"] == 0 and again["cost"]["wall_s"] == 0
    assert "0 trainings (0 SFT steps" in format_cost(again["cost"])


def test_study_cost_sums_outer_trials_and_counts_pruned() -> None:
    import pandas as pd

    from ssd.sweep_summary import _study_cost

    trials = pd.DataFrame(
        {
            "state": ["COMPLETE", "PRUNED", "COMPLETE"],
            "user_attrs_inner": [None, None, True],  # the inner point is in trial 0's cost
            "user_attrs_cost.sft_steps": [40, 10, 40],
            "user_attrs_cost.evaluations": [3, 1, 2],
        }
    )
    spent = _study_cost(trials)
    assert spent == {"cost.sft_steps": 50.0, "cost.evaluations": 4.0, "n_pruned": 1}
