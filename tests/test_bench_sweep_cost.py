"""The sweep-cost benchmark at tiny sizes: its table, and nested search training less than 2-D TPE.

The full run (`make bench-sweep`) takes minutes; these runs use real SGD toy students and real
Optuna studies, only fewer and smaller.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import pytest

# benchmarks/ is a folder of scripts, not a package: load the script by its path.
_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_sweep_cost.py"
_spec = importlib.util.spec_from_file_location("bench_sweep_cost", _PATH)
assert _spec is not None and _spec.loader is not None
bench = importlib.util.module_from_spec(_spec)
sys.modules["bench_sweep_cost"] = bench  # dataclasses look their module up here
_spec.loader.exec_module(bench)

# 5,000 sequences and 40 Adam steps per student: with far fewer (2,000 / 20) the students fit
# their sampling noise, beat the ideal student and move the peak, so no strategy meets the target.
TINY_TOY = [
    "--worlds",
    "toy",
    "--toy-seeds",
    "1",
    "--strategies",
    "tpe-2d,nested",
    "--trials-2d",
    "8",
    "--outer-trials",
    "3",
    "--inner-budget",
    "6",
    "--toy-sequences",
    "5000",
    "--toy-steps",
    "40",
    "--checkpoints",
    "2",
    "--no-progress",
]


def test_toy_nested_reaches_the_peak_with_fewer_trainings_than_2d_tpe(capsys):
    out = bench.main(TINY_TOY)["toy"]
    rows = {r["strategy"]: r for r in out["rows"]}
    assert set(rows) == {"tpe-2d", "nested"}
    # the reported rule: the fitted peak (the sweeper's inner.objective=peak answer for nested)
    nested, tpe = out["runs"]["nested"][0]["fitted"], out["runs"]["tpe-2d"][0]["fitted"]
    assert nested["reached"]
    # an unreached TPE run counts its whole budget: nested must still train less
    assert nested["trainings"] < tpe["trainings"]
    assert nested["evaluations"] <= 3 * 6
    assert tpe["trainings"] <= 8
    assert 0.5 < out["peak_t_eff"] < 0.7  # the toy's exact T_eff peak (~0.585)
    text = capsys.readouterr().out
    assert "(a) 2-D TPE" in text and "(d) nested" in text and "trainings vs (a)" in text
    assert "incumbent fitted" in text and "incumbent best" in text  # both rules, fitted first
    assert text.index("incumbent fitted") < text.index("incumbent best")


def test_paper_surrogate_noise_free_nested_needs_a_fifth_of_2d_tpe_trainings():
    """Without evaluation noise the surrogate's ratio holds: nested <= 1/4 of 2-D TPE's trainings.

    (5 seeds here; the README's 20-seed run gives the number.) With the sampler's default
    n_startup_trials (10) the outer TPE is random for all 8 trainings and this fails.
    """
    argv = ["--worlds", "paper", "--paper-seeds", "5", "--strategies", "tpe-2d,nested"]
    argv += ["--paper-samples", "100000000", "--no-progress"]
    out = bench.main(argv)["paper"]
    rows = {r["strategy"]: r for r in out["rows_by_rule"]["fitted"]}
    assert rows["nested"]["reached"] == rows["tpe-2d"]["reached"] == 5
    assert rows["nested"]["trainings"] * 4 <= rows["tpe-2d"]["trainings"]
    assert rows["nested"]["ratio"] <= 0.25


def test_fitted_incumbent_does_not_chase_a_lucky_observation():
    """The best observed point is a noise spike; the fitted rule reads the curve around it."""

    class Flat:
        t_eval = (0.3, 1.5)

    # one student (T_train 1.0), a parabola in log T_eval peaking at 0.8, one lucky point at 1.2
    obs = [(1.0, t, 50 - 40 * math.log(t / 0.8) ** 2) for t in (0.5, 0.7, 0.9)]
    obs += [(1.0, 1.2, 52.0), (1.0, 1.4, 40.0)]
    assert bench.best_incumbent(obs)[1] == 1.2
    t_train, t_eval, _ = bench.fitted_incumbent(obs, pooled=False, neighbours=2, world=Flat())
    assert t_train == 1.0 and 0.9 < t_eval < 1.2  # pulled back towards the curve
    # pooled by T_eff (2-D strategies): placed on the best point's T_train
    obs2 = [(2.0, t / 2, v) for _, t, v in obs]
    t_train, t_eval, _ = bench.fitted_incumbent(obs2, pooled=True, neighbours=2, world=Flat())
    assert t_train == 2.0 and 0.45 < t_eval < 0.6


def test_paper_surrogate_table_has_every_strategy_and_gpu_hours(capsys):
    out = bench.main(["--worlds", "paper", "--paper-seeds", "3", "--no-progress"])["paper"]
    rows = out["rows"]
    assert [r["strategy"] for r in rows] == list(bench.STRATEGIES)
    for r in rows:
        assert r["seeds"] == 3 and 0 <= r["reached"] <= 3
        assert r["trainings_range"][0] <= r["trainings_spent"] <= r["trainings_range"][1]
        assert r["gpu_h_spent"] > 0
    by = {r["strategy"]: r for r in rows}
    # the grid trains one student per T_train row; nested prunes only SFT steps, not trainings
    assert by["grid"]["trainings_range"][1] <= 7
    assert by["nested-pruned"]["sft_steps_spent"] < by["nested"]["sft_steps_spent"]
    text = capsys.readouterr().out
    assert "GPU-h model (assumptions)" in text and "True peak T_eff 1.86" in text


@pytest.mark.parametrize(
    "argv,key",
    [
        (["--worlds", "moon"], "--worlds"),
        (["--strategies", "tpe-2d,bohb"], "--strategies"),
        (["--toy-seeds", "0"], "--toy-seeds"),
        (["--inner-budget", "3"], "--inner-budget"),
        (["--checkpoints", "1"], "--checkpoints"),
        (["--incumbent", "median"], "--incumbent"),
        (["--inner-method", "optuna"], "--inner-method"),
        (["--outer-startup", "0"], "--outer-startup"),
        (["--fit-neighbours", "0"], "--fit-neighbours"),
        (["--samples-per-problem", "0"], "--samples-per-problem"),
        (["--ceiling-budgets", "8,x"], "--ceiling-budgets"),
    ],
)
def test_bad_arguments_exit_2_naming_the_option(argv, key, capsys):
    with pytest.raises(SystemExit) as exc:
        bench.main(argv)
    assert exc.value.code == 2
    assert key in capsys.readouterr().err


def test_noise_ceiling_is_below_half_at_the_papers_protocol_and_above_with_more_samples():
    """Why the noisy surrogate's ±0.05 target is out of reach at 131 x 10: even one inner search
    on the true peak's own student, at its best method and fit width, meets it in under half of
    the noise draws. With 100 samples per problem the same search meets it in most draws, so
    the check can fail."""
    paper = bench.PaperWorld(2500, 4)
    rows = bench.ceiling_by_budget(paper, bench.Sizes(), 0.05, [8, 32], draws=100)
    assert [r["budget"] for r in rows] == [8, 32]
    assert all(0 < r["rate"] < 0.5 for r in rows)
    dense = bench.PaperWorld(2500, 4, samples_per_problem=100)
    assert bench.ceiling_by_budget(dense, bench.Sizes(), 0.05, [91], draws=100)[0]["rate"] > 0.5


def test_samples_per_problem_costs_its_generations_and_keeps_the_target():
    paper, dense = bench.PaperWorld(2500, 4), bench.PaperWorld(2500, 4, samples_per_problem=40)
    assert dense.samples_observed == 4 * paper.samples_observed == 131 * 40
    assert dense.noise_sd == paper.noise_sd and dense.peak == paper.peak  # the same target
    wide = bench.GpuHours(eval_generations=131 * 40)
    assert wide.evaluation == pytest.approx(4 * bench.GpuHours().evaluation)


def test_censored_tpe_bounds_the_ratio_of_a_strategy_that_reached():
    """At 40 samples per problem nested search reaches the target in most of 20 seeds while 2-D
    TPE does not: the table prints an upper bound on the ratio (a's median >= its median spend)."""
    argv = ["--worlds", "paper", "--paper-seeds", "20", "--strategies", "tpe-2d,nested"]
    argv += ["--samples-per-problem", "40", "--ceiling-budgets", "", "--no-progress"]
    rows = {r["strategy"]: r for r in bench.main(argv)["paper"]["rows_by_rule"]["fitted"]}
    tpe, nested = rows["tpe-2d"], rows["nested"]
    assert tpe["reached"] <= 10 and not math.isfinite(tpe["trainings"])
    assert nested["reached"] > 10 and math.isfinite(nested["trainings"])
    assert nested["ratio_bound"] == pytest.approx(nested["trainings"] / tpe["trainings_spent"])
    assert nested["ratio_bound"] <= 0.2 and nested["gpu_ratio_bound"] < 0.3


def test_paper_law_world_is_the_papers_teff_fit_of_the_grid():
    """World paper-law: the paper's quadratic on T_eff over the 50 cells (R^2 0.75 in the paper)."""
    law = bench.PaperWorld(2500, 4, surface="teff-law")
    cells = bench.PaperWorld(2500, 4)
    assert law.name == "paper-law" and cells.name == "paper"
    assert law.law is not None and law.law.r2 == pytest.approx(0.75, abs=0.02)
    assert law.peak_t_eff == pytest.approx(1.317, abs=0.005)  # the vertex, exactly
    assert cells.peak_t_eff == pytest.approx(1.86, abs=0.01)  # the spline's edge peak
    # only T_eff matters: every student has the same curve, and the peak is its vertex
    assert law.true_score(1.0, 1.2) == pytest.approx(law.true_score(2.0, 0.6))
    assert law.true_score(*law.peak) == pytest.approx(law.best_score)
    assert law.true_score(1.0, 1.5) < law.best_score - 0.1
    with pytest.raises(ValueError, match="surface"):
        bench.PaperWorld(2500, 4, surface="smooth")


def test_teff_rule_reads_the_vertex_of_all_points_pooled_by_t_eff():
    class Range:
        t_eval = (0.3, 1.5)

    # two students on one quadratic in T_eff with its vertex at 1.2; the best point is off it
    curve = [(t, e, 50 - 10 * (t * e - 1.2) ** 2) for t in (0.8, 2.0) for e in (0.4, 0.7, 1.0)]
    curve.append((2.0, 0.5, 51.0))  # a lucky point at T_eff 1.0
    t_train, t_eval, value = bench.teff_incumbent(curve, Range())
    assert t_train == 2.0  # the best point's student
    assert 1.0 < t_train * t_eval < 1.4  # pulled to the pooled fit's vertex, not the lucky 1.0
    assert value < 51.0
    # fewer than 3 T_eff values, or a convex fit: the best point itself
    assert bench.teff_incumbent(curve[:2], Range()) == max(curve[:2], key=lambda o: o[2])
    convex = [(1.0, e, 40 + 10 * (e - 0.9) ** 2) for e in (0.4, 0.9, 1.4)]
    assert bench.teff_incumbent(convex, Range()) == max(convex, key=lambda o: o[2])


def test_paper_law_nested_needs_a_fifth_of_2d_tpe_trainings_under_the_teff_rule():
    """Must-show 1 on the paper's T_eff law with binomial noise at 131 x 10 (10 seeds here).

    With the study's T_eff fit as incumbent and an inner grid of 32 T_eval points, nested search
    meets the ±0.05 target in every seed with at most a fifth of 2-D TPE's trainings; under the
    per-student fitted rule neither gets there in most seeds (the ceiling of one student's scan).
    """
    argv = ["--worlds", "paper-law", "--paper-seeds", "10", "--strategies", "tpe-2d,nested"]
    argv += ["--incumbent", "teff", "--inner-method", "grid", "--inner-budget", "32"]
    argv += ["--ceiling-budgets", "", "--no-progress"]
    out = bench.main(argv)["paper-law"]
    teff = {r["strategy"]: r for r in out["rows_by_rule"]["teff"]}
    assert teff["nested"]["reached"] == 10
    assert teff["nested"]["trainings"] * 5 <= teff["tpe-2d"]["trainings"]
    assert teff["nested"]["ratio"] <= 0.2
    fitted = {r["strategy"]: r for r in out["rows_by_rule"]["fitted"]}
    assert fitted["nested"]["reached"] < 5
