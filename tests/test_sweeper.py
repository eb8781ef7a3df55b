"""Tests of the `ssd_optuna` sweeper: grammar, quoting, end points, failures, enqueue, results.

Unit tests call the search-space and sampler code directly; the in-process sweeps run the tiny
sphere app (tests/apps/sphere) through Hydra's `hydra_sweep_runner` fixture. Run:
`pytest tests/test_sweeper.py -q` (resume and multi-worker tests: tests/test_sweeper_resume.py).
"""

import importlib.util
import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf import OmegaConf
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from hydra_plugins.ssd_optuna_sweeper import (
    CmaEsSamplerConf,
    GPSamplerConf,
    NSGAIISamplerConf,
    QMCSamplerConf,
    RandomSamplerConf,
    TPESamplerConf,
)
from hydra_plugins.ssd_optuna_sweeper._grid import OrderedGridSampler, is_void
from hydra_plugins.ssd_optuna_sweeper._impl import make_sampler
from hydra_plugins.ssd_optuna_sweeper._results import as_values, read_metrics
from hydra_plugins.ssd_optuna_sweeper._search_space import (
    SearchParam,
    format_value,
    quote,
    search_param,
)
from hydra_plugins.ssd_optuna_sweeper._trials import Ledger, stale_reason

APP_DIR = Path(__file__).parent / "apps" / "sphere"
PARSER = OverridesParser.create()


def _param(line: str) -> SearchParam:
    return search_param(PARSER.parse_override(line))


def _sphere_module() -> Any:
    spec = importlib.util.spec_from_file_location("sphere", APP_DIR / "sphere.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------- grammar
@pytest.mark.parametrize(
    "line, distribution, grid",
    [
        ("x=choice(a,b,1)", CategoricalDistribution(["a", "b", 1]), ("a", "b", 1)),
        ("x=1,2,3", CategoricalDistribution([1, 2, 3]), (1, 2, 3)),
        ("x=range(1,5)", IntDistribution(1, 4), (1, 2, 3, 4)),  # stop excluded, as in Python
        ("x=range(5)", IntDistribution(0, 4), (0, 1, 2, 3, 4)),
        ("x=range(5,0,-2)", IntDistribution(1, 5, step=2), (5, 3, 1)),
        (
            "x=range(0,1,0.25)",
            FloatDistribution(0.0, 0.75, step=0.25),
            (0.0, 0.25, 0.5, 0.75),
        ),
        ("x=interval(0.5,2.0)", FloatDistribution(0.5, 2.0), None),  # closed [0.5, 2.0]
        ("x=int(interval(1,3))", IntDistribution(1, 3), (1, 2, 3)),  # both ends included
        ("x=tag(log,interval(0.001,1))", FloatDistribution(0.001, 1.0, log=True), None),
        (
            "x=tag(log,int(interval(1,100)))",
            IntDistribution(1, 100, log=True),
            tuple(range(1, 101)),
        ),
    ],
)
def test_grammar_maps_to_distribution(line: str, distribution: Any, grid: Any) -> None:
    param = _param(line)
    assert param.distribution == distribution
    assert param.grid == grid
    assert param.name == "x"


def test_prefixed_key_keeps_prefix_in_override_only() -> None:
    param = _param("+extra=choice(a,b)")
    assert (param.key, param.name) == ("+extra", "extra")
    assert param.override("b") == "+extra=b"


def test_float_range_values_are_decimal_and_samples_snap_to_them() -> None:
    param = _param("x=range(0.2,0.65,0.1)")
    assert param.grid == (0.2, 0.3, 0.4, 0.5, 0.6)  # not 0.30000000000000004
    # A sampler computes low + k * step in floating point; the job gets the grid value.
    assert param.override(0.2 + 0.1) == "x=0.3"


def test_structured_choices_reach_the_job_as_structures() -> None:
    param = _param("x=choice([1,2],{a:1})")
    assert param.distribution == CategoricalDistribution(["[1,2]", "{a:1}"])
    parsed = PARSER.parse_override(param.override("[1,2]"))
    assert parsed.value() == [1, 2]


@pytest.mark.parametrize(
    "line, message",
    [
        ("x=tag(log,range(1,5))", "needs interval"),
        ("x=tag(log,choice(1,2))", "needs interval"),
        ("x=tag(fancy,interval(0,1))", "unknown tag"),
        ("x=range(3,3)", "is empty"),
        ("x=interval(2,1)", "start < end"),
        ("x=tag(log,interval(0,1))", "start > 0"),
    ],
)
def test_grammar_errors_name_the_key(line: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as err:
        _param(line)
    assert "'x'" in str(err.value)


# ---------------------------------------------------------------- quoting
TRICKY_STRINGS = [
    "plain",
    "a b",
    "x,y",
    "it's",
    'say "hi"',
    "both ' and \"",
    "back\\slash",
    "ends with backslash\\",
    "\\'",
    "1",
    "1.5",
    "true",
    "null",
    "",
    "a=b",
    "choice(a,b)",
    "[1,2]",
    "{a:1}",
    "tab\tand space",
    "ünïcode ✓",
    "${not.resolved_here}",
]


@pytest.mark.parametrize("text", TRICKY_STRINGS)
def test_strings_round_trip_through_the_grammar(text: str) -> None:
    parsed = PARSER.parse_override(f"k={format_value(text)}")
    assert parsed.value() == text
    assert isinstance(parsed.value(), str)
    assert not parsed.is_sweep_override()


def test_plain_strings_stay_bare_and_others_are_quoted() -> None:
    assert format_value("mysql") == "mysql"  # config group options must stay bare
    assert format_value("a b") == "'a b'"
    assert format_value("1") == "'1'"
    assert quote("it's") == "'it\\'s'"


@pytest.mark.parametrize(
    "value", [0, -3, 2.5, 1e-05, math.inf, True, False, None, [1, "a b"], {"k": "v w"}]
)
def test_other_values_round_trip(value: Any) -> None:
    parsed = PARSER.parse_override(f"k={format_value(value)}").value()
    assert parsed == value and type(parsed) is type(value)


# ---------------------------------------------------------------- end points, every sampler
DISCRETE = ["i=int(interval(1,3))", "r=range(0,3)", "c=choice(a,b)"]
SAMPLERS = {
    "tpe": TPESamplerConf(seed=0, n_startup_trials=5),
    "gp": GPSamplerConf(seed=0, n_startup_trials=5),
    "random": RandomSamplerConf(seed=0),
    "qmc": QMCSamplerConf(seed=0),
    "cmaes": CmaEsSamplerConf(seed=0),
    "nsgaii": NSGAIISamplerConf(seed=0, population_size=6),
}


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_every_sampler_stays_inside_the_end_point_rule(name: str) -> None:
    params = [_param(line) for line in [*DISCRETE, "f=interval(0.5,2.0)"]]
    sampler = make_sampler(OmegaConf.structured(SAMPLERS[name]))
    study = optuna.create_study(sampler=sampler)
    seen: dict[str, set[Any]] = {p.name: set() for p in params}
    for _ in range(8):
        trial = study.ask({p.name: p.distribution for p in params})
        for p in params:
            seen[p.name].add(p.value(trial.params[p.name]))
        study.tell(trial, (trial.params["i"] - 3) ** 2 + trial.params["f"])
    assert seen["i"] <= {1, 2, 3}
    assert seen["r"] <= {0, 1, 2}  # 3 is range's excluded stop
    assert seen["c"] <= {"a", "b"}
    assert all(0.5 <= f <= 2.0 for f in seen["f"])


def test_end_points_are_reached_by_random_and_grid() -> None:
    params = [_param(line) for line in DISCRETE]
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(40):
        trial = study.ask({p.name: p.distribution for p in params})
        study.tell(trial, 0.0)
    assert {t.params["i"] for t in study.trials} == {1, 2, 3}
    assert {t.params["r"] for t in study.trials} == {0, 1, 2}
    grid = OrderedGridSampler({p.name: p.grid or () for p in params})
    assert sorted(grid.points) == sorted(
        (i, r, c) for i in (1, 2, 3) for r in (0, 1, 2) for c in ("a", "b")
    )


def test_grid_sampler_visits_each_point_once_in_override_order() -> None:
    params = [_param("a=choice(x,y)"), _param("b=range(0,3)")]
    study = optuna.create_study(sampler=OrderedGridSampler({p.name: p.grid or () for p in params}))
    for _ in range(6):
        trial = study.ask({p.name: p.distribution for p in params})
        study.tell(trial, 0.0)
    order = [(t.params["a"], t.params["b"]) for t in study.trials]
    assert order == [("x", 0), ("x", 1), ("x", 2), ("y", 0), ("y", 1), ("y", 2)]


# ---------------------------------------------------------------- pieces of the loop
def test_as_values_accepts_numbers_and_rejects_the_rest() -> None:
    assert as_values(3, 1) == [3.0]
    assert as_values((1, 2.5), 2) == [1.0, 2.5]
    for bad, n in [(None, 1), ("0.5", 1), (True, 1), (float("nan"), 1), ((1, 2), 1), (1, 2)]:
        with pytest.raises(ValueError):
            as_values(bad, n)


def test_read_metrics_flattens_numbers_and_skips_config(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    path.write_text(
        '{"objective": 0.4, "t_eff": 1.2, "base": {"pass@1": 0.3, "eval_dir": "x",'
        ' "by_difficulty": {"easy": {"pass@1": 0.9}}}, "config": {"lr": 1}, '
        '"cache": {"sample": {"hit": true}}}'
    )
    assert read_metrics(path) == {
        "objective": 0.4,
        "t_eff": 1.2,
        "base.pass@1": 0.3,
        "base.by_difficulty.easy.pass@1": 0.9,
    }
    assert read_metrics(tmp_path / "missing.json") == {}


def _frozen(number: int, state: TrialState, **user_attrs: Any) -> optuna.trial.FrozenTrial:
    trial = optuna.trial.create_trial(
        state=state, value=0.0 if state == TrialState.COMPLETE else None, user_attrs=user_attrs
    )
    trial.number = number
    return trial


def test_ledger_leaves_out_surplus_and_retried_trials() -> None:
    trials = [
        _frozen(0, TrialState.COMPLETE),
        _frozen(1, TrialState.FAIL, error="boom"),
        _frozen(2, TrialState.FAIL, retried=True),
        _frozen(3, TrialState.FAIL, surplus="race"),
        _frozen(4, TrialState.RUNNING),
        _frozen(5, TrialState.WAITING, retry_of=2),
    ]
    ledger = Ledger(4, [t for t in trials if not is_void(t)])
    assert (ledger.done, ledger.failed, ledger.waiting, ledger.free) == (2, 1, 1, 0)
    assert ledger.rank(5) == 3 and ledger.rank(6) == 4  # a 7th trial would be past the budget


def test_stale_reason_dead_process_and_old_heartbeat() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    host = os.uname().nodename
    now = time.time()
    running = optuna.trial.create_trial(state=TrialState.RUNNING, user_attrs={})
    running.datetime_start = datetime.now()
    dead = {"owner": f"{host}:{child.pid}:abc", "heartbeat": now}
    alive = {"owner": f"{host}:{os.getppid()}:abc", "heartbeat": now}
    running.user_attrs = dead
    assert "gone" in str(stale_reason(running, 600, now))
    running.user_attrs = alive
    assert stale_reason(running, 600, now) is None
    running.user_attrs = {"owner": "other-host:1:abc", "heartbeat": now - 700}
    assert "no heartbeat" in str(stale_reason(running, 600, now))


# ---------------------------------------------------------------- in-process sweeps (~1 s each)
def _sweep(runner: Any, tmp_path: Path, *overrides: str) -> Any:
    return runner(
        calling_file=str(APP_DIR / "sphere.py"),
        calling_module=None,
        task_function=_sphere_module().sphere,
        config_path="conf",
        config_name="config",
        overrides=list(overrides),
        temp_dir=tmp_path,
    )


@dataclass
class Outcome:
    returns: list[Any]  # JobReturns, all batches flattened
    trials: pd.DataFrame  # trials.csv
    results: Any  # optimization_results.yaml
    dirs: set[str]  # folders in the sweep dir


def _run(runner: Any, tmp_path: Path, *overrides: str) -> Outcome:
    # The fixture deletes the sweep folder on exit: read what the tests need inside the block.
    with _sweep(runner, tmp_path, *overrides) as sweep:
        return Outcome(
            [r for batch in sweep.returns for r in batch],
            pd.read_csv(tmp_path / "trials.csv"),
            OmegaConf.load(tmp_path / "optimization_results.yaml"),
            {p.name for p in tmp_path.iterdir() if p.is_dir()},
        )


@pytest.mark.integration
@pytest.mark.usefixtures("hydra_restore_singletons")
def test_sweep_writes_results_csv_and_metrics(hydra_sweep_runner: Any, tmp_path: Path) -> None:
    out = _run(
        hydra_sweep_runner, tmp_path, "hydra.sweeper.n_trials=6", "hydra.sweeper.sampler.seed=0"
    )
    assert [r.hydra_cfg.hydra.job.num for r in out.returns] == list(range(6))
    frame = out.trials
    assert list(frame["number"]) == list(range(6)) and set(frame["state"]) == {"COMPLETE"}
    assert frame["user_attrs_t_eff"].tolist() == pytest.approx(
        (frame["params_x"] * frame["params_y"]).tolist()
    )
    assert out.results.best_value == pytest.approx(frame["value"].min())
    assert out.results.n_complete == 6
    assert out.results.best_metrics["ssd.pass@1"] == -out.results.best_value
    assert out.dirs >= {str(n) for n in range(6)}


@pytest.mark.integration
@pytest.mark.usefixtures("hydra_restore_singletons")
def test_quoted_strings_reach_the_job_exactly(hydra_sweep_runner: Any, tmp_path: Path) -> None:
    labels = ["a b", "x,y", "it's", "1", "true", "back\\slash"]
    choice = "label=choice(" + ",".join(quote(s) for s in labels) + ")"
    fixed = ["x=0", "y=0"]  # replace the app's interval params: a grid needs discrete values
    out = _run(hydra_sweep_runner, tmp_path, "hydra/sweeper/sampler=grid", *fixed, choice)
    assert [r.cfg.label for r in out.returns] == labels  # grid order = the listed order
    assert all(isinstance(r.cfg.label, str) for r in out.returns)


@pytest.mark.integration
@pytest.mark.usefixtures("hydra_restore_singletons")
def test_grid_runs_end_points_once_and_caps_n_trials(
    hydra_sweep_runner: Any, tmp_path: Path
) -> None:
    overrides = ["hydra/sweeper/sampler=grid", "hydra.sweeper.n_trials=50"]
    grid = ["x=int(interval(1,3))", "y=range(0,1,0.5)"]
    out = _run(hydra_sweep_runner, tmp_path, *overrides, *grid)
    points = [(r.cfg.x, r.cfg.y) for r in out.returns]
    assert points == [(x, y) for x in (1, 2, 3) for y in (0.0, 0.5)]
    assert out.results.n_trials == 6  # n_trials=50 capped at the grid size


@pytest.mark.integration
@pytest.mark.usefixtures("hydra_restore_singletons")
def test_failed_trials_are_recorded_and_the_sweep_goes_on(
    hydra_sweep_runner: Any, tmp_path: Path
) -> None:
    overrides = ["hydra/sweeper/sampler=random", "hydra.sweeper.sampler.seed=0", "fail_above=0.0"]
    out = _run(
        hydra_sweep_runner,
        tmp_path,
        *overrides,
        "hydra.sweeper.n_trials=8",
        "hydra.sweeper.max_failure_rate=1.0",
    )
    frame = out.trials
    failed = frame[frame["state"] == "FAIL"]
    assert len(frame) == 8 and 0 < len(failed) < 8
    assert (failed["params_x"] > 0).all() and failed["value"].isna().all()
    assert failed["user_attrs_error"].str.contains("RuntimeError: x=.* is above").all()
    assert out.results.n_failed == len(failed)


@pytest.mark.integration
@pytest.mark.usefixtures("hydra_restore_singletons")
def test_sweep_stops_past_max_failure_rate(hydra_sweep_runner: Any, tmp_path: Path) -> None:
    overrides = [
        "fail_above=-10",
        "hydra.sweeper.n_trials=8",
        "hydra.sweeper.max_failure_rate=0.25",
    ]
    with pytest.raises(HydraException, match="3 of 8 trials failed"):
        _run(hydra_sweep_runner, tmp_path, *overrides)
    frame = pd.read_csv(tmp_path / "trials.csv")  # written before the sweep stopped
    assert len(frame) == 3 and set(frame["state"]) == {"FAIL"}


@pytest.mark.integration
@pytest.mark.usefixtures("hydra_restore_singletons")
def test_enqueued_points_run_first(hydra_sweep_runner: Any, tmp_path: Path) -> None:
    enqueue = "hydra.sweeper.enqueue=[{x:1.0,y:-0.5},{x:0.25,y:0.5}]"
    out = _run(hydra_sweep_runner, tmp_path, enqueue, "hydra.sweeper.n_trials=4")
    points = out.trials.loc[:1, ["params_x", "params_y"]].values.tolist()
    assert points == [[1.0, -0.5], [0.25, 0.5]]
    assert (out.results.best_trial, out.results.best_value) == (0, 0.0)


@pytest.mark.integration
@pytest.mark.usefixtures("hydra_restore_singletons")
def test_enqueue_with_unknown_key_fails_early(
    hydra_sweep_runner: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        _run(hydra_sweep_runner, tmp_path, "hydra.sweeper.enqueue=[{z:1}]")
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "ssd: invalid config: hydra.sweeper.enqueue: ['z'] not in ['x', 'y']" in err
    assert not (tmp_path / "optuna.journal").exists()  # checked before the study exists


@pytest.mark.integration
@pytest.mark.usefixtures("hydra_restore_singletons")
def test_custom_search_space_and_multi_objective(
    hydra_sweep_runner: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(APP_DIR))
    overrides = [
        "hydra.sweeper.custom_search_space=sphere.add_label",
        "hydra.sweeper.direction=[minimize,minimize]",
        "hydra.sweeper.n_trials=5",
        "pair=true",
    ]
    out = _run(hydra_sweep_runner, tmp_path, *overrides)
    assert {r.cfg.label for r in out.returns} <= {"p q", "r,s"}
    assert all(r.overrides[-1].startswith("label=") for r in out.returns)
    assert out.results.n_complete == 5 and len(out.results.best_trials) >= 1


# ---------------------------------------------------------------- the shipped sweep definitions
SWEEP_FILES = sorted((Path(__file__).parents[1] / "sweeps").glob("*.yaml"))


@pytest.mark.parametrize("path", SWEEP_FILES, ids=lambda p: p.stem)
def test_sweep_file_search_space_is_valid(path: Path) -> None:
    cfg = OmegaConf.load(path)
    sweeper = cfg.hydra.sweeper
    params = {
        k: search_param(PARSER.parse_override(f"{k}={v}"))
        for k, v in sweeper.params.items()
        if PARSER.parse_override(f"{k}={v}").is_sweep_override()
    }
    assert params, f"{path.name} sweeps nothing"
    for point in sweeper.get("enqueue", []):
        assert set(point) <= set(params), f"{path.name}: enqueue keys not in params"
        for name, value in point.items():
            dist = params[name].distribution
            inside = (
                value in dist.choices
                if isinstance(dist, CategoricalDistribution)
                else dist.low <= value <= dist.high
            )
            assert inside, f"{path.name}: enqueued {name}={value} is outside the search space"
    if "override /hydra/sweeper/sampler: grid" in path.read_text():
        grid = OrderedGridSampler({p.name: p.grid or () for p in params.values()})
        assert len(grid.points) == sweeper.n_trials  # the whole grid, each point once


def test_paper_grid_and_decode_only_values() -> None:
    def grid_of(stem: str, key: str) -> tuple[Any, ...] | None:
        value = OmegaConf.load(SWEEP_FILES[0].parent / f"{stem}.yaml").hydra.sweeper.params[key]
        return search_param(PARSER.parse_override(f"{key}={value}")).grid

    assert grid_of("paper_grid", "sampling.temperature") == (0.5, 0.7, 1.0, 1.5, 2.0)
    assert grid_of("paper_grid", "evaluation.temperature") == tuple(
        round(0.6 + 0.1 * i, 1) for i in range(10)
    )
    assert grid_of("decode_only", "evaluation.temperature") == tuple(
        round(0.2 + 0.1 * i, 1) for i in range(15)
    )
    assert grid_of("bad_data", "evaluation.temperature") == tuple(
        round(0.5 + 0.1 * i, 1) for i in range(11)
    )
