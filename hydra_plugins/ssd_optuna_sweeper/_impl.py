"""The `ssd_optuna` sweeper: ask/tell over a persistent Optuna study, batches via the launcher.

How a sweep runs (docs/sweeps.md has the user's view):
1. Open (or create) the study in its storage; enqueue the `enqueue` points once.
2. Loop: trials whose worker died are told COMPLETE if their job finished anyway (a SLURM or
   submitit job outlives the sweeper: its results.json is read back), else failed and
   re-enqueued; stop when the study holds `n_trials` finished trials; ask up to `n_jobs`
   trials; launch them with job number = trial number (so job folders never collide across
   reruns and workers); tell each result.
3. Write `optimization_results.yaml` and `trials.csv` into the sweep folder.
Budget: the first `n_trials` trials by number that are neither cancelled surplus nor abandoned
and retried. A worker that asks past the budget (a race with another worker) cancels its trial.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import random
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import optuna
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.core.plugins import Plugins
from hydra.core.utils import JobReturn
from hydra.errors import HydraException
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from hydra.utils import get_method, instantiate
from omegaconf import DictConfig, ListConfig, OmegaConf, open_dict, read_write
from optuna.exceptions import ExperimentalWarning
from optuna.storages.journal import JournalFileBackend
from optuna.trial import FrozenTrial, Trial, TrialState

from ._checks import SweepConfigError, check_fidelity, check_inner, check_pruner, check_screen
from ._cost import print_plan, study_plan
from ._grid import OrderedGridSampler
from ._nested import INNER_PARAM, OuterSampler, is_inner, record_inner
from ._results import (
    JOB_RESULTS,
    TRIALS_FILE,
    as_values,
    finished_objective,
    read_metrics,
    write_results,
)
from ._search_space import (
    SearchParam,
    format_value,
    param_text,
    parse_overrides,
    search_param,
)
from ._trials import Heartbeat, Ledger, stale_reason

log = logging.getLogger(__name__)

MAX_RETRIES = 3  # an abandoned trial (dead worker, Ctrl-C) is re-run at most this many times
GRID_SETTLE_S = 10.0  # longest wait for another worker's new trial to store its grid point


# ---------------------------------------------------------------- the sweeper
class OptunaSweeperImpl(Sweeper):
    """See the module docstring; constructed by `SsdOptunaSweeper` from `SsdOptunaSweeperConf`."""

    def __init__(
        self,
        sampler: DictConfig,
        direction: Any,
        study_name: str | None,
        storage: Any,
        n_trials: int,
        n_jobs: int,
        max_failure_rate: float,
        params: DictConfig | None,
        custom_search_space: str | None,
        enqueue: ListConfig | list[Any],
        heartbeat_interval: float,
        grace_period: float,
        engine_kwargs: DictConfig | dict[str, Any] | None = None,
        inner: DictConfig | None = None,
        pruner: DictConfig | None = None,
        fidelity: DictConfig | None = None,
        dry_run: bool = False,
        screen: DictConfig | None = None,
    ) -> None:
        directions = list(direction) if isinstance(direction, ListConfig | list) else [direction]
        bad = [d for d in directions if str(d).lower() not in ("minimize", "maximize")]
        if not directions or bad:
            raise SweepConfigError(
                f"hydra.sweeper.direction={direction}: expected minimize or maximize (or a list)"
            )
        for key, value, low in (("n_trials", n_trials, 1), ("n_jobs", n_jobs, 1)):
            if value < low:
                raise SweepConfigError(f"hydra.sweeper.{key}={value}: expected an integer >= {low}")
        if not 0.0 <= max_failure_rate <= 1.0:
            raise SweepConfigError(
                f"hydra.sweeper.max_failure_rate={max_failure_rate}: expected a fraction in [0, 1]"
            )
        if not 0 < heartbeat_interval < grace_period:
            raise SweepConfigError(
                f"hydra.sweeper.heartbeat_interval={heartbeat_interval}: expected > 0 and below "
                f"grace_period={grace_period}"
            )
        self.sampler_cfg = sampler
        self.directions = [str(d).lower() for d in directions]
        self.study_name = study_name
        self.storage_cfg = storage
        self.n_trials = n_trials
        self.n_jobs = n_jobs
        self.max_failure_rate = max_failure_rate
        # A null value removes a key a base sweep file swept (e.g. T_eval in a nested variant).
        self.params: dict[str, Any] = {
            k: v for k, v in ({} if params is None else _container(params)).items() if v is not None
        }
        try:
            self.custom_search_space = (
                get_method(custom_search_space) if custom_search_space else None
            )
        except Exception as e:  # Hydra's "could not locate" error
            raise SweepConfigError(
                f"hydra.sweeper.custom_search_space={custom_search_space!r}: expected the dotted "
                f"path of a function fn(cfg, trial) ({e})"
            ) from None
        self.enqueue: list[dict[str, Any]] = list(_container(enqueue))
        self.heartbeat_interval = heartbeat_interval
        self.grace_period = grace_period
        self.engine_kwargs: dict[str, Any] = (
            {} if engine_kwargs is None else _container(engine_kwargs)
        )
        # Every node a job or a later step reads is checked here, before any study or job.
        self.inner: dict[str, Any] | None = check_inner(_container(inner)) if inner else None
        if self.inner is not None and len(directions) != 1:
            raise SweepConfigError("hydra.sweeper.inner: a nested search needs one direction")
        if pruner is not None:
            check_pruner(pruner)
        self.pruner_cfg = pruner
        self.fidelity: dict[str, Any] = check_fidelity(_container(fidelity) or {})
        self.dry_run = dry_run
        self.screen: dict[str, Any] = check_screen(_container(screen) or {})
        self.space: dict[str, SearchParam] = {}
        self.grid: OrderedGridSampler | None = None  # the grid sampler, when it is the sampler

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.hydra_context = hydra_context
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )
        self.sweep_dir = Path(str(config.hydra.sweep.dir))

    # ------------------------------------------------------------ main loop
    def sweep(self, arguments: list[str]) -> list[Sequence[JobReturn]]:
        assert self.hydra_context is not None and self.launcher is not None, "setup() first"
        # Everything a bad setting can fail is checked before the sweep folder and the study
        # exist: a later run must not find a started study that never ran.
        try:
            parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
            lines = [f"{k}={param_text(v)}" for k, v in self.params.items()] + list(arguments)
            overrides = parse_overrides(lines, parser)
            space = {
                o.get_key_element(): search_param(o) for o in overrides if o.is_sweep_override()
            }
            if self.inner is not None and INNER_PARAM in {p.name for p in space.values()}:
                raise SweepConfigError(
                    f"hydra.sweeper.inner searches {INNER_PARAM} inside each trial: remove it "
                    "from hydra.sweeper.params"
                )
            self.space = space
            sampler, n_trials = self._sampler(list(space.values()))
            self._check_enqueue(space)
            screened = self._screened(space, n_trials)
        except SweepConfigError:
            raise
        except ValueError as e:  # the search space's grammar, the grid sampler's needs
            raise SweepConfigError(f"hydra.sweeper.params: {e}") from None
        if self.dry_run:
            assert self.config is not None
            print_plan(study_plan(self.config, space, sampler, n_trials, self.inner))
            return []

        self.sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, self.sweep_dir / "multirun.yaml")
        study = self._open_study(sampler)
        log.info(
            "Study %s (%s, %s) in %s: %d trials, %d per batch",
            study.study_name,
            type(sampler).__name__,
            "/".join(self.directions),
            self.storage_text,
            n_trials,
            self.n_jobs,
        )
        self._enqueue_screened(study, screened)
        self._enqueue(study, n_trials)

        returns: list[Sequence[JobReturn]] = []
        with Heartbeat(self.heartbeat_interval) as heartbeat:
            try:
                while True:
                    self._abandon_stale(study, space)
                    ledger = Ledger.of(study, n_trials)
                    if ledger.done >= n_trials:
                        break
                    n_ask = min(self.n_jobs, ledger.free + ledger.waiting)
                    if n_ask == 0:
                        log.info("The remaining trials are running in other workers; done here.")
                        break
                    trials = self._ask(study, space, n_ask, n_trials, heartbeat, sampler)
                    if trials:
                        returns.append(self._run_batch(study, overrides, space, trials, heartbeat))
                        self._check_failure_rate(study, n_trials)
            except BaseException as e:
                # Ctrl-C or a crash of the sweeper itself: hand our running trials back, unless
                # their jobs run on without us (SLURM): the next run reads their results.json
                # (`_harvest`) or, if they never finish, retries them.
                outlive = getattr(self.launcher, "jobs_outlive_sweeper", False)
                for trial in list(heartbeat.active.values()):
                    if outlive:
                        log.warning(
                            "Trial %d left RUNNING: its job goes on; the same command again"
                            " reads its result, or retries it if the job never finishes",
                            trial.number,
                        )
                        continue
                    self._abandon(
                        study, trial.number, dict(trial.params), trial.user_attrs, repr(e)
                    )
                heartbeat.active.clear()
                raise
            finally:
                self._write_results(study, space, n_trials)
        return returns

    # ------------------------------------------------------------ study, sampler, storage
    def _sampler(self, space: list[SearchParam]) -> tuple[optuna.samplers.BaseSampler, int]:
        n_trials = self.n_trials
        if not space and self.custom_search_space is None:
            n_trials = 1  # nothing to search: one job, as Hydra's basic sweeper would run
        target = str(self.sampler_cfg.get("_target_", ""))
        if target.endswith("GridSampler"):
            if self.custom_search_space is not None:
                raise ValueError("the grid sampler cannot take custom_search_space parameters")
            continuous = [p.key for p in space if p.grid is None]
            if continuous:
                raise ValueError(
                    f"the grid sampler needs discrete values; {continuous} use interval(): "
                    "use choice(...), range(...) or int(interval(...))"
                )
            grid = OrderedGridSampler({p.name: p.grid or () for p in space})
            if n_trials > len(grid.points):
                log.info("Grid of %d points: n_trials capped at %d", *(len(grid.points),) * 2)
            self.grid = grid
            return self._outer(grid), min(n_trials, len(grid.points))
        self.grid = None
        return self._outer(make_sampler(self.sampler_cfg)), n_trials

    def _outer(self, sampler: optuna.samplers.BaseSampler) -> optuna.samplers.BaseSampler:
        """With a nested search the sampler sees outer trials only (inner points are not its)."""
        return OuterSampler(sampler) if self.inner is not None else sampler

    def _storage(self) -> Any:
        cfg = self.storage_cfg
        if cfg is None:
            cfg = str(self.sweep_dir.resolve() / "optuna.journal")
        self.storage_text = str(cfg.get("_target_")) if isinstance(cfg, DictConfig) else str(cfg)
        return open_storage(cfg, self.engine_kwargs)

    def _open_study(self, sampler: optuna.samplers.BaseSampler) -> optuna.Study:
        self.storage = self._storage()
        assert self.config is not None
        name = self.study_name or str(self.config.hydra.job.name)
        study = optuna.create_study(
            study_name=name,
            storage=self.storage,
            sampler=sampler,
            directions=self.directions,  # type: ignore[arg-type]  # validated strings
            load_if_exists=True,
        )
        if [d.name.lower() for d in study.directions] != self.directions:
            raise ValueError(
                f"study '{name}' in {self.storage_text} was created with directions "
                f"{[d.name.lower() for d in study.directions]}, not {self.directions}"
            )
        self.study_id = self.storage.get_study_id_from_name(name)
        return study

    def _check_enqueue(self, space: dict[str, SearchParam]) -> None:
        names = {p.name for p in space.values()}
        for point in self.enqueue:
            unknown = set(point) - names
            if unknown:
                raise SweepConfigError(
                    f"hydra.sweeper.enqueue: {sorted(unknown)} not in {sorted(names)}"
                )

    def _enqueue(self, study: optuna.Study, n_trials: int) -> None:
        if Ledger.of(study, n_trials).free == 0:
            return  # a finished (or fully claimed) study gets no new points
        for point in self.enqueue:
            study.enqueue_trial(dict(point), skip_if_exists=True)

    def _screened(
        self, space: dict[str, SearchParam], n_trials: int
    ) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """The screen study's best outer trials as (params, user attrs), best first.

        Read before this study is opened, so that a missing or empty screen study fails as a
        config error with nothing left behind (it must exist on a rerun too).
        """
        name = self.screen.get("study")
        if not name:
            return []
        cfg = self.screen.get("storage") or str(
            self.sweep_dir.resolve().parent / name / "optuna.journal"
        )
        if isinstance(cfg, str) and "://" not in cfg and not Path(cfg).is_file():
            raise SweepConfigError(
                f"hydra.sweeper.screen.study={name}: expected a finished screening study, but "
                f"there is no journal at {cfg} (run ssd -m +sweep=teff_screen first, or set "
                "hydra.sweeper.screen.storage)"
            )
        try:
            screened = optuna.load_study(study_name=name, storage=open_storage(cfg))
        except Exception as e:  # no such study in that storage, or no storage at all
            raise SweepConfigError(
                f"hydra.sweeper.screen.study={name}: cannot load it from {cfg}: {e}"
            ) from None
        names = {p.name for p in space.values()}
        sign = 1.0 if screened.direction == optuna.study.StudyDirection.MAXIMIZE else -1.0
        done = [
            t
            for t in screened.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if not is_inner(t) and names <= set(t.params)
        ]
        if not done:
            raise SweepConfigError(
                f"hydra.sweeper.screen.study={name}: expected complete trials with parameters "
                f"{sorted(names)}, found none"
            )
        done.sort(key=lambda t: -sign * float(t.value))  # type: ignore[arg-type]
        return [
            (
                {k: v for k, v in t.params.items() if k in names},
                {"screened_from": name, "screened_value": t.value},
            )
            for t in done[: min(int(self.screen.get("top", 3)), n_trials)]
        ]

    def _enqueue_screened(
        self, study: optuna.Study, screened: list[tuple[dict[str, Any], dict[str, Any]]]
    ) -> None:
        """Start around the screened peak: enqueue the best outer trials of the screen study."""
        if not screened or study.get_trials(deepcopy=False):
            return  # no screening, or a study already under way (resume): nothing to add
        for params, attrs in screened:
            study.enqueue_trial(params, user_attrs=attrs, skip_if_exists=True)
            log.info(
                "Screened point enqueued: %s (%s %.4f)",
                params,
                attrs["screened_from"],
                attrs["screened_value"],
            )

    # ------------------------------------------------------------ trials
    def _ask(
        self,
        study: optuna.Study,
        space: dict[str, SearchParam],
        n: int,
        n_trials: int,
        heartbeat: Heartbeat,
        sampler: optuna.samplers.BaseSampler,
    ) -> list[Trial]:
        distributions = {p.name: p.distribution for p in space.values()}
        asked = []
        for _ in range(n):
            trial = study.ask(distributions)
            heartbeat.claim(trial)
            asked.append(trial)
        for trial in asked:
            if self.custom_search_space is not None:
                self.custom_search_space(self.config, trial)
        # Decide after all asks: a trial past the budget, or (grid) on an already-held point,
        # lost a race with another worker and is cancelled.
        ledger = Ledger.of(study, n_trials)
        keep = []
        for trial in asked:
            reason = None
            if ledger.rank(trial.number) >= n_trials:
                reason = f"past the budget of {n_trials} trials (another worker was faster)"
            elif self.grid is not None:
                point = tuple(trial.params.get(n) for n in self.grid.names)
                earlier = _settled_earlier(study, self.grid, trial.number, n_trials)
                if point in {self.grid.point_of(t) for t in earlier}:
                    reason = f"grid point {point} is held by another trial"
            if reason is None:
                keep.append(trial)
                continue
            heartbeat.active.pop(trial.number)
            trial.set_user_attr("surplus", reason)
            study.tell(trial, state=TrialState.FAIL)
            ledger = Ledger.of(study, n_trials)
        return sorted(keep, key=lambda t: t.number)

    def _job_overrides(
        self, overrides: list[Override], space: dict[str, SearchParam], trial: Trial
    ) -> list[str]:
        lines = _param_lines(space, trial.params)
        job = [
            lines.pop(space[o.get_key_element()].name)
            if o.is_sweep_override()
            else str(o.input_line)
            for o in overrides
        ]
        return job + list(lines.values())  # custom_search_space parameters

    def _job_dir(self, number: int) -> Path:
        """Trial `number`'s run folder as Hydra names it: sweep.dir/sweep.subdir at that job.num.

        Recorded as user attr job_dir at launch, so that a later run finds the folder of a trial
        whose sweeper died (even a run with another sweep dir sharing the study). A subdir that
        cannot be resolved outside a job falls back to the number (Hydra's and ssd's default).
        """
        assert self.config is not None
        cfg = copy.deepcopy(self.config)
        try:
            with read_write(cfg), open_dict(cfg):
                cfg.hydra.job.num = number
                subdir = str(cfg.hydra.sweep.subdir)
        except Exception:  # names a per-job value (hydra.job.id, ...)
            subdir = str(number)
        return Path(os.path.abspath(self.sweep_dir / subdir))

    def _run_batch(
        self,
        study: optuna.Study,
        overrides: list[Override],
        space: dict[str, SearchParam],
        trials: list[Trial],
        heartbeat: Heartbeat,
    ) -> list[JobReturn]:
        jobs = [self._job_overrides(overrides, space, t) for t in trials]
        launcher = self.launcher
        assert launcher is not None
        results: list[JobReturn] = []
        for trial in trials:
            trial.set_user_attr("job_dir", str(self._job_dir(trial.number)))
        try:
            self.validate_batch_is_legal(jobs)
            # Job number = trial number: launch each run of consecutive numbers in one call.
            start = 0
            for end in range(1, len(trials) + 1):
                if end == len(trials) or trials[end].number != trials[end - 1].number + 1:
                    results += launcher.launch(jobs[start:end], trials[start].number)
                    start = end
        except Exception as e:  # composition error or launcher failure: every trial failed
            for trial in trials[len(results) :]:
                heartbeat.active.pop(trial.number, None)
                trial.set_user_attr("error", f"{type(e).__name__}: {e}")
                study.tell(trial, state=TrialState.FAIL)
            for trial, ret in zip(trials, results, strict=False):
                heartbeat.active.pop(trial.number, None)
                self._tell(study, trial, ret)
            raise
        for trial, ret in zip(trials, results, strict=True):
            heartbeat.active.pop(trial.number, None)
            self._tell(study, trial, ret)
        return results

    def _tell(self, study: optuna.Study, trial: Trial, ret: JobReturn) -> None:
        output_dir = ret.hydra_cfg.hydra.runtime.output_dir if ret.hydra_cfg else None
        self._record(study, trial.number, output_dir, lambda: ret.return_value)

    def _record(
        self,
        study: optuna.Study,
        number: int,
        job_dir: str | Path | None,
        result: Callable[[], Any],
        **attrs: Any,
    ) -> None:
        """Tell a job's outcome: job_dir, the metrics of its results.json and `attrs` as user
        attrs, then its values, or FAIL with the error if `result()` raises or is no score.

        The one path for a job the launcher returned and for one read back from its folder
        (`_harvest`), so that both trials look alike in the study and in trials.csv.
        """
        trial_id = self.storage.get_trial_id_from_study_id_trial_number(self.study_id, number)
        if job_dir:
            attrs = {"job_dir": str(job_dir), **read_metrics(Path(job_dir) / JOB_RESULTS), **attrs}
        for key, value in attrs.items():
            self.storage.set_trial_user_attr(trial_id, key, value)
        try:
            outcome = result()
            if isinstance(outcome, optuna.TrialPruned):  # returned, so Hydra saw no failure
                raise outcome
            values = as_values(outcome, len(self.directions))
        except optuna.TrialPruned as e:  # the job stopped itself (see ssd.fidelity)
            # A normal outcome: one line (the job's step and value), no traceback.
            log.info("Trial %d pruned %s", number, str(e) or "by its job")
            study.tell(number, state=TrialState.PRUNED, skip_if_finished=True)
            return
        except Exception as e:  # the job raised, or returned something that is not a score
            log.warning("Trial %d failed: %s: %s", number, type(e).__name__, e)
            self.storage.set_trial_user_attr(trial_id, "error", f"{type(e).__name__}: {e}")
            study.tell(number, state=TrialState.FAIL)
            return
        if self.inner is not None and job_dir:
            distributions = {p.name: p.distribution for p in self.space.values()}
            record_inner(
                study,
                self.storage.get_trial(trial_id),
                distributions,
                self.inner,
                Path(job_dir),
                self._job_dir,
                read_metrics,
            )
        study.tell(number, values)

    def _check_failure_rate(self, study: optuna.Study, n_trials: int) -> None:
        failed = Ledger.of(study, n_trials).failed
        if failed > self.max_failure_rate * n_trials:
            raise HydraException(
                f"{failed} of {n_trials} trials failed, more than max_failure_rate="
                f"{self.max_failure_rate:g} allows; errors are in {self.sweep_dir / TRIALS_FILE}"
            )

    # ------------------------------------------------------------ abandoned trials
    def _abandon_stale(self, study: optuna.Study, space: dict[str, SearchParam]) -> None:
        now = time.time()
        for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            reason = stale_reason(trial, self.grace_period, now)
            if reason is not None and not self._harvest(study, trial, space, reason):
                self._abandon(study, trial.number, trial.params, trial.user_attrs, reason)

    def _harvest(
        self, study: optuna.Study, trial: FrozenTrial, space: dict[str, SearchParam], reason: str
    ) -> bool:
        """Tell a stale trial COMPLETE from its job's results.json; False if there is none.

        With SLURM or submitit the jobs are processes of their own: one can finish after the
        sweeper that launched it died, and re-running it would waste its hours. `reason` says why
        the trial is stale; `finished_objective` says when a folder's results.json counts.
        """
        job_dir = Path(trial.user_attrs.get("job_dir") or self._job_dir(trial.number))
        if _was_pruned(job_dir, trial):  # the job stopped itself; its sweeper never heard
            study.tell(trial.number, state=TrialState.PRUNED, skip_if_finished=True)
            log.warning("Trial %d recovered as PRUNED from %s", trial.number, job_dir)
            return True
        texts = {k: line.partition("=")[2] for k, line in _param_lines(space, trial.params).items()}
        started = trial.datetime_start.timestamp() if trial.datetime_start else None
        try:
            objective = finished_objective(job_dir, texts, started, len(self.directions))
        except Exception as e:  # no finished job of this trial: abandon it as before
            log.info("Trial %d: no result to recover (%s)", trial.number, e)
            return False
        try:
            recovered = f"from {JOB_RESULTS}: {reason}"
            self._record(study, trial.number, job_dir, lambda: objective, recovered=recovered)
        except Exception as e:  # finished meanwhile, or another worker recovered it first
            log.debug("trial %d not recovered: %s", trial.number, e)
            return True
        log.warning("Trial %d recovered from %s (%s)", trial.number, job_dir / JOB_RESULTS, reason)
        return True

    def _abandon(
        self,
        study: optuna.Study,
        number: int,
        params: dict[str, Any],
        user_attrs: dict[str, Any],
        reason: str,
    ) -> None:
        """Fail a trial whose worker is gone and enqueue its parameters again."""
        retries = int(user_attrs.get("retries", 0))
        trial_id = self.storage.get_trial_id_from_study_id_trial_number(self.study_id, number)
        try:
            self.storage.set_trial_user_attr(trial_id, "error", f"abandoned: {reason}")
            if retries < MAX_RETRIES:
                self.storage.set_trial_user_attr(trial_id, "retried", True)
            study.tell(number, state=TrialState.FAIL)
        except Exception as e:  # finished meanwhile, or another worker abandoned it first
            log.debug("trial %d not abandoned: %s", number, e)
            return
        log.warning("Trial %d abandoned (%s)", number, reason)
        if retries < MAX_RETRIES:
            study.enqueue_trial(params, user_attrs={"retry_of": number, "retries": retries + 1})

    # ------------------------------------------------------------ results
    def _write_results(
        self, study: optuna.Study, space: dict[str, SearchParam], n_trials: int
    ) -> None:
        try:
            write_results(study, self.sweep_dir, space, n_trials, self.storage_text)
        except Exception as e:  # never hide the sweep's own outcome behind a reporting error
            log.error("Could not write the results of study %s: %s", study.study_name, e)


def _was_pruned(job_dir: Path, trial: FrozenTrial) -> bool:
    """Whether the trial's job wrote a pruned results.json after the trial started."""
    path = job_dir / JOB_RESULTS
    started = trial.datetime_start.timestamp() if trial.datetime_start else 0.0
    try:
        if path.stat().st_mtime < started - 60:
            return False
        return "pruned" in json.loads(path.read_text())
    except (OSError, ValueError):
        return False


def open_storage(cfg: Any, engine_kwargs: dict[str, Any] | None = None) -> Any:
    """An Optuna storage from `hydra.sweeper.storage` (a node with _target_, a URL, or a journal
    file path). Also used by a trial's job to report to its study (ssd.fidelity).

    `engine_kwargs`: SQLAlchemy engine options for an RDB other than SQLite
    (hydra.sweeper.engine_kwargs: pool_pre_ping, pool_size, pool_recycle, connect_args)."""
    if isinstance(cfg, DictConfig | dict):
        return instantiate(cfg)
    cfg = str(cfg)
    if "://" not in cfg:  # a plain path: a journal file, safe for several local processes
        Path(cfg).parent.mkdir(parents=True, exist_ok=True)
        return optuna.storages.JournalStorage(JournalFileBackend(cfg))
    # SQLite: wait for the file lock; other RDBs: the user's engine options.
    options: dict[str, Any] = (
        {"connect_args": {"timeout": 60}} if cfg.startswith("sqlite") else dict(engine_kwargs or {})
    )
    for attempt in range(5):
        try:
            return optuna.storages.RDBStorage(cfg, engine_kwargs=options)
        except Exception as e:  # workers starting together race to create the schema
            if attempt == 4:
                raise
            log.info("Opening storage %s failed (%s); retrying", cfg, type(e).__name__)
            time.sleep(0.5 + random.random())
    raise AssertionError("unreachable")


def _settled_earlier(
    study: optuna.Study, sampler: OrderedGridSampler, number: int, n_trials: int
) -> list[FrozenTrial]:
    """Budget trials numbered below `number`, once the running ones have written their point.

    Another worker may have created an earlier trial whose parameters are not stored yet; the
    lower number wins a grid point, so wait (briefly) until every earlier point is known.
    """
    deadline = time.time() + GRID_SETTLE_S
    while True:
        earlier = [t for t in Ledger.of(study, n_trials).budget if t.number < number]
        running = [t for t in earlier if t.state == TrialState.RUNNING]
        if all(sampler.point_of(t) is not None for t in running) or time.time() > deadline:
            return earlier
        time.sleep(0.05)


def _param_lines(space: dict[str, SearchParam], params: dict[str, Any]) -> dict[str, str]:
    """The override line a job gets for each trial parameter: name -> "key=value".

    Swept keys are written by their SearchParam (prefix, quoting, grid snapping); parameters of
    custom_search_space as plain `name=value`. Shared by the launch and the check of a folder.
    """
    by_name = {p.name: p for p in space.values()}
    return {
        k: by_name[k].override(v) if k in by_name else f"{k}={format_value(v)}"
        for k, v in params.items()
    }


def _container(node: Any) -> Any:
    """Plain dicts/lists from OmegaConf nodes (the sweeper is built with _recursive_: false)."""
    return OmegaConf.to_container(node) if OmegaConf.is_config(node) else node


def make_sampler(sampler_cfg: DictConfig) -> optuna.samplers.BaseSampler:
    """Instantiate an Optuna sampler config (any but the grid, which needs the search space)."""
    with warnings.catch_warnings():
        # The user picked the sampler; optuna's "experimental" notice adds nothing here.
        warnings.simplefilter("ignore", ExperimentalWarning)
        return instantiate(sampler_cfg)
