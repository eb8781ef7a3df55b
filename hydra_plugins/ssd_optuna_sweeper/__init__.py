"""Hydra sweeper `ssd_optuna`: Optuna (>= 4.2) studies that persist, resume and share work.

Select it in a sweep file with `defaults: - override /hydra/sweeper: ssd_optuna` and a sampler
with `override /hydra/sweeper/sampler: tpe|gp|random|qmc|cmaes|nsgaii|grid`. Hydra imports this
module at start-up, so it holds only the config schema and a thin class; the work (and the
optuna import) lives in `_impl.py`. Tests: `pytest tests/test_sweeper*.py`; docs: docs/sweeps.md.
"""

import inspect
from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import MISSING, DictConfig

# No `from __future__ import annotations` here: Hydra runs this module before it is in
# sys.modules, where dataclasses would look up string annotations.


# ---------------------------------------------------------------- samplers: hydra/sweeper/sampler
@dataclass
class TPESamplerConf:
    _target_: str = "optuna.samplers.TPESampler"
    seed: int | None = None  # null when several workers share a study (same seed = same draws)
    n_startup_trials: int = 10  # random trials before the model kicks in
    n_ei_candidates: int = 24
    multivariate: bool = True  # optuna 5's default: model parameters jointly
    group: bool = False
    constant_liar: bool = True  # treat running trials as bad points: batches/workers spread out


@dataclass
class OuterTPESamplerConf(TPESamplerConf):
    """TPE for a nested sweep's outer search, where every trial is a training: 2 random trials,
    not 10, before the model (`make bench-sweep`: with 10 all 8 outer trials of sweeps/teff are
    random; with 2 nested search reached the noise-free target in a median 3 trainings)."""

    n_startup_trials: int = 2


@dataclass
class GPSamplerConf:
    _target_: str = "optuna.samplers.GPSampler"
    seed: int | None = None
    n_startup_trials: int = 10
    deterministic_objective: bool = False  # true only if a rerun of a trial gives the same value


@dataclass
class RandomSamplerConf:
    _target_: str = "optuna.samplers.RandomSampler"
    seed: int | None = None


@dataclass
class QMCSamplerConf:
    _target_: str = "optuna.samplers.QMCSampler"
    qmc_type: str = "sobol"  # sobol | halton | lhs
    scramble: bool = False
    seed: int | None = None


@dataclass
class CmaEsSamplerConf:
    _target_: str = "optuna.samplers.CmaEsSampler"
    seed: int | None = None
    sigma0: float | None = None  # initial step size; null = 1/6 of the search range
    n_startup_trials: int = 1


@dataclass
class NSGAIISamplerConf:
    _target_: str = "optuna.samplers.NSGAIISampler"
    seed: int | None = None
    population_size: int = 50
    mutation_prob: float | None = None
    crossover_prob: float = 0.9
    swapping_prob: float = 0.5


@dataclass
class GridSamplerConf:
    # Runs every point of the discrete search space once, in the order of the overrides (the
    # sweeper's own grid, _grid.OrderedGridSampler); n_trials is capped at the
    # grid size. The search space comes from `params`, not from this node.
    _target_: str = "optuna.samplers.GridSampler"
    seed: int | None = None  # unused: the grid order is deterministic; kept for old configs


# ---------------------------------------------------------------- pruners: hydra/sweeper/pruner
# The pruner is not stored in the study: every worker and every job builds it from this node.
@dataclass
class NopPrunerConf:
    _target_: str = "optuna.pruners.NopPruner"


@dataclass
class MedianPrunerConf:
    _target_: str = "optuna.pruners.MedianPruner"
    n_startup_trials: int = 3  # finished trials before anything is pruned
    n_warmup_steps: int = 0  # SFT steps before a trial can be pruned
    interval_steps: int = 1
    n_min_trials: int = 1


@dataclass
class SuccessiveHalvingPrunerConf:
    _target_: str = "optuna.pruners.SuccessiveHalvingPruner"
    min_resource: Any = "auto"  # SFT steps of the first rung ("auto": from the first trial)
    reduction_factor: int = 3
    min_early_stopping_rate: int = 0
    bootstrap_count: int = 0


@dataclass
class HyperbandPrunerConf:
    _target_: str = "optuna.pruners.HyperbandPruner"
    min_resource: int = 1
    max_resource: Any = "auto"  # "auto": the steps of the first finished trial
    reduction_factor: int = 3
    bootstrap_count: int = 0


@dataclass
class WilcoxonPrunerConf:
    # Steps are problem indices (fidelity.per_problem=true): a trial stops once it is
    # significantly worse than the best trial on the problems seen so far.
    _target_: str = "optuna.pruners.WilcoxonPruner"
    p_threshold: float = 0.1
    n_startup_steps: int = 2


@dataclass
class FidelityConf:
    # How a trial reports intermediate values to its pruner (ssd/fidelity.py): pass@1 of the
    # student every `every_steps` SFT steps, on the first `num_problems` problems (-1: all), at
    # T_eval `t_eval` (null: the trial's evaluation.temperature). Untyped (Any) so that the
    # sweeper's own check (_checks.py) reports a bad value in one line, not Hydra's merge error.
    every_steps: Any = 100
    num_problems: Any = 50
    t_eval: Any = None


@dataclass
class ScreenConf:
    # Cheap screening first: `study` names a finished study of the same space run with
    # training=ideal (sweeps/teff_screen.yaml: no sampling, no training); its `top` best outer
    # trials are enqueued as this study's first trials. `storage`: null = the journal of the
    # sibling sweep folder <sweep dir>/../<study>/optuna.journal.
    # Untyped, like FidelityConf: _checks.check_screen reports a bad value in one line.
    study: Any = None
    storage: Any = None
    top: Any = 3


# ---------------------------------------------------------------- the sweeper
@dataclass
class SsdOptunaSweeperConf:
    _target_: str = "hydra_plugins.ssd_optuna_sweeper.SsdOptunaSweeper"
    _recursive_: bool = False  # the sweeper instantiates sampler and storage itself
    defaults: list[Any] = field(default_factory=lambda: [{"sampler": "tpe"}, {"pruner": "none"}])

    sampler: Any = MISSING
    direction: Any = "minimize"  # minimize | maximize, or a list of them (multi-objective)
    study_name: str | None = None  # null: the job name; sweeps/*.yaml set a deterministic one
    # null: journal file <sweep dir>/optuna.journal; a path: a journal file there; a URL
    # (sqlite:///..., postgresql://...): RDB; a node with _target_: e.g. optuna's JournalStorage.
    storage: Any = None
    n_trials: int = 20  # total finished trials of the study, over all runs and workers
    n_jobs: int = 1  # trials asked and launched per batch (set the launcher's parallelism too)
    max_failure_rate: float = 0.0  # stop once failed trials exceed this fraction of n_trials
    params: dict[str, Any] | None = None  # search space, override grammar (docs/sweeps.md)
    custom_search_space: str | None = None  # dotted path of fn(cfg, trial) adding parameters
    enqueue: list[dict[str, Any]] = field(default_factory=list)  # known points, run first
    heartbeat_interval: float = 30.0  # seconds between "still alive" marks on running trials
    grace_period: float = 600.0  # a running trial without a heartbeat this long is retried
    # SQLAlchemy engine options of an RDB storage (not SQLite): pool_pre_ping drops connections
    # a database server or firewall closed while a long trial ran; pool_size, pool_recycle, ...
    engine_kwargs: dict[str, Any] = field(default_factory=lambda: {"pool_pre_ping": True})
    # Nested search (docs/sweeps.md): null = every trial is one point; a node = each trial trains
    # once and its job searches evaluation.temperature (ssd.inner_search keys: method grid |
    # bracket | optuna, low, high, budget, n_coarse, grid, resolution, seed; objective best |
    # peak; base_scan: also scan the decode-only base). Inner points become trials of their own.
    inner: Any = None
    pruner: Any = MISSING  # group hydra/sweeper/pruner: none | median | successive_halving | ...
    fidelity: FidelityConf = field(default_factory=lambda: FidelityConf())
    dry_run: bool = False  # print how many samplings, trainings, evaluations; launch nothing
    screen: ScreenConf = field(default_factory=lambda: ScreenConf())


class SsdOptunaSweeper(Sweeper):
    """Hydra entry point; delegates to `_impl.OptunaSweeperImpl` so optuna loads only when used."""

    def __init__(self, **kwargs: Any) -> None:
        # A bad hydra.sweeper.* setting: one line and exit 2 before any study or job exists
        # (not Hydra's instantiate traceback).
        from ssd.config import exit_invalid

        from ._checks import SweepConfigError
        from ._impl import OptunaSweeperImpl

        try:
            known = inspect.signature(OptunaSweeperImpl).parameters
            unknown = sorted(set(kwargs) - set(known))
            if unknown:
                raise SweepConfigError(
                    f"hydra.sweeper: unknown keys {unknown}; expected some of {sorted(known)}"
                )
            self.sweeper = OptunaSweeperImpl(**kwargs)
        except SweepConfigError as e:
            exit_invalid(e)

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.sweeper.setup(hydra_context=hydra_context, task_function=task_function, config=config)

    def sweep(self, arguments: list[str]) -> Any:
        from ssd.config import exit_invalid

        from ._checks import SweepConfigError

        try:
            return self.sweeper.sweep(arguments)
        except SweepConfigError as e:  # raised only before the study is opened
            exit_invalid(e)


def register_configs() -> None:
    """Store the sweeper and sampler configs in Hydra's ConfigStore."""
    cs = ConfigStore.instance()
    cs.store(group="hydra/sweeper", name="ssd_optuna", node=SsdOptunaSweeperConf, provider="ssd")
    samplers = {
        "tpe": TPESamplerConf,
        "tpe_outer": OuterTPESamplerConf,
        "gp": GPSamplerConf,
        "random": RandomSamplerConf,
        "qmc": QMCSamplerConf,
        "cmaes": CmaEsSamplerConf,
        "nsgaii": NSGAIISamplerConf,
        "grid": GridSamplerConf,
    }
    for name, node in samplers.items():
        cs.store(group="hydra/sweeper/sampler", name=name, node=node, provider="ssd")
    pruners = {
        "none": NopPrunerConf,
        "median": MedianPrunerConf,
        "successive_halving": SuccessiveHalvingPrunerConf,
        "hyperband": HyperbandPrunerConf,
        "wilcoxon": WilcoxonPrunerConf,
    }
    for name, node in pruners.items():
        cs.store(group="hydra/sweeper/pruner", name=name, node=node, provider="ssd")


register_configs()
