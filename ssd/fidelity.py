"""Multi-fidelity pruning, job side: score the student every K SFT steps, let the pruner stop it.

Why: SFT dominates a study's cost, and a student that is clearly worse than its peers after a
fraction of its steps rarely catches up. With a pruner configured (`hydra/sweeper/pruner`), the
training stage of a sweep's trial saves the student every `fidelity.every_steps` steps,
evaluates it on the first `fidelity.num_problems` problems (at `fidelity.t_eval`, default the
trial's T_eval), reports the objective's metric to the trial in the study
(`trial.report(value, step)`) and asks `trial.should_prune()`; a pruned trial raises
`optuna.TrialPruned`, writes a results.json saying where it stopped and what it spent, and
keeps its last checkpoint in the training stage's work folder
(`<cache>/train/<key>.partial/checkpoints/checkpoint-<K>` for SFT, with optimizer state under
`training.resume`, so the next run of the same student resumes there instead of at step 0;
`.../fidelity/step-<K>` for the toy). The pruner is rebuilt in every job from the
sweep's config (Optuna does not store it), wrapped like the sweeper's so that nested inner
points are not compared against. Random state is saved and restored around each evaluation,
so a student that is never pruned is the very student trained without a pruner (same cache
entry). Needs in-process stages (`isolate_stages=false`) and the in-process SFT launcher.
Tests: ``pytest tests/test_pruning.py``.
"""

from __future__ import annotations

import logging
import random
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np

from ssd import cost
from ssd.artifacts import write_json_atomic
from ssd.backends.base import Backend, Policy
from ssd.config import RunConfig
from ssd.records import RESULTS_FILE
from ssd.study_link import StudyLink

log = logging.getLogger(__name__)

FIDELITY_DIR = "fidelity"
_CURRENT: Reporter | None = None  # the reporter of the training stage running in this process


def current() -> Reporter | None:
    """The active reporter (backends ask this inside their training loops), or None."""
    return _CURRENT


def _open_trial(link: StudyLink) -> Any:
    import optuna
    from hydra.utils import instantiate

    from hydra_plugins.ssd_optuna_sweeper._impl import open_storage
    from hydra_plugins.ssd_optuna_sweeper._nested import OuterPruner

    storage = open_storage(link.storage)
    pruner = OuterPruner(instantiate(link.pruner))
    study = optuna.load_study(study_name=link.study_name, storage=storage, pruner=pruner)
    trial_id = storage.get_trial_id_from_study_id_trial_number(study._study_id, link.trial_number)
    return optuna.trial.Trial(study, trial_id)


class Reporter:
    """Evaluates intermediate students of one training run and reports them to the trial."""

    def __init__(
        self, link: StudyLink, run: RunConfig, backend: Backend, work: Path, out_dir: Path
    ) -> None:
        self.link = link
        self.run = run
        self.backend = backend
        self.every = int(link.fidelity.get("every_steps", 100))
        if self.every < 1:
            raise ValueError(f"hydra.sweeper.fidelity.every_steps={self.every}: must be >= 1")
        problems = int(link.fidelity.get("num_problems", 50))
        t_eval = link.fidelity.get("t_eval") or run.evaluation.temperature
        self.evaluation = replace(
            run.evaluation, num_problems=problems, temperature=float(t_eval), include_ideal=False
        )
        self.metric = run.objective.partition(".")[2]
        self.work = work / FIDELITY_DIR
        self.out_dir = out_dir
        self.trial = _open_trial(link)
        self.costs: list[dict[str, float]] = []
        self.reports: list[dict[str, Any]] = []
        self.started = time.time()

    def due(self, step: int, max_steps: int) -> bool:
        return step % self.every == 0 and step < max_steps

    def checkpoint_dir(self, step: int) -> Path:
        return self.work / f"step-{step}"

    def report(self, step: int, checkpoint: Path, tokens: int = 0) -> None:
        """Score the student saved in `checkpoint` at SFT step `step` (after `tokens` trained
        tokens); raise TrialPruned if the pruner says so (after writing what the trial spent)."""
        import optuna
        import torch

        from ssd.evaluation.stage import evaluate

        state = (random.getstate(), np.random.get_state(), torch.get_rng_state())
        start = time.time()
        try:
            summary = evaluate(
                self.backend,
                Policy(checkpoint=str(checkpoint)),
                self.evaluation,
                checkpoint / "eval",
            )
        finally:
            random.setstate(state[0])
            np.random.set_state(state[1])
            torch.set_rng_state(state[2])
        programs = int(summary.get("num_problems", 0)) * self.evaluation.n
        self.costs.append(
            cost.stage_cost("eval", False, time.time() - start, summary, {"programs": programs})
        )
        value = float(summary[self.metric])
        self.trial.report(value, step)
        self.reports.append({"step": step, "value": value})
        log.info(
            "SFT step %d: %s=%.4f on %d problems",
            step,
            self.metric,
            value,
            summary.get("num_problems", 0),
        )
        for old in self.work.glob("step-*"):  # keep the latest checkpoint only
            if old != checkpoint:
                shutil.rmtree(old, ignore_errors=True)
        if self.trial.should_prune():
            self._write_pruned(step, tokens, value, checkpoint)
            raise optuna.TrialPruned(f"at SFT step {step}: {self.metric}={value:.4f}")

    def resumed(self, step: int, tokens: int) -> None:
        """The training resumed at SFT ``step`` after ``tokens`` trained tokens (a killed or
        pruned run's checkpoint): what this run spends is counted from there."""
        self.resumed_from = (step, tokens)

    def _write_pruned(self, step: int, tokens: int, value: float, checkpoint: Path) -> None:
        first_step, first_tokens = self.resumed_from
        train = cost.zero()
        train.update(
            trainings=1, sft_steps=step - first_step, sft_tokens=int(tokens) - first_tokens
        )
        # The intermediate evaluations ran inside this time and carry their own seconds.
        evals = cost.total_cost(self.costs)
        train.update(wall_s=round(max(time.time() - self.started - evals["wall_s"], 0.0), 3))
        spent = cost.total_cost([*self.prior_costs, train, *self.costs])
        self.trial.set_user_attr("pruned_step", step)
        self.trial.set_user_attr("pruned_checkpoint", str(checkpoint))
        self.out_dir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(
            self.out_dir / RESULTS_FILE,
            {
                "pruned": {"step": step, "value": value, "checkpoint": str(checkpoint)},
                "intermediate": self.reports,
                "t_train": self.run.sampling.temperature,
                "t_eval": self.run.evaluation.temperature,
                "cost": {**spent, "stages": {}},
                "config": asdict(self.run),
            },
        )

    def finish(self) -> dict[str, Any]:
        """After a training that was not pruned: drop the last intermediate checkpoint."""
        shutil.rmtree(self.work, ignore_errors=True)
        return {"intermediate": self.reports, "cost": cost.total_cost(self.costs)}

    prior_costs: list[dict[str, float]] = []  # stages before training (set by the pipeline)
    resumed_from: tuple[int, int] = (0, 0)  # (SFT step, tokens) the training started from


@contextmanager
def reporting(
    link: StudyLink | None,
    run: RunConfig,
    backend: Backend,
    work: Path,
    out_dir: Path,
    prior_costs: list[dict[str, float]],
) -> Iterator[Reporter | None]:
    """Make a reporter current for the training stage when the sweep prunes; else None."""
    global _CURRENT
    if link is None or not link.prunes or run.training.method == "ideal":
        yield None
        return
    reporter = Reporter(link, run, backend, work, out_dir)
    reporter.prior_costs = list(prior_costs)
    _CURRENT = reporter
    try:
        yield reporter
    finally:
        _CURRENT = None


def hf_callback() -> Any:
    """A transformers TrainerCallback that reports the current reporter's checkpoints, or None."""
    active = current()
    if active is None:
        return None
    reporter: Reporter = active
    from transformers import TrainerCallback

    class _Fidelity(TrainerCallback):  # type: ignore[misc]
        """Asks the trainer for a checkpoint at every due step and scores it once it is written.

        The trainer's own checkpoint (``checkpoints/checkpoint-<step>``) is what gets scored: with
        ``training.resume`` it holds the optimizer state too, so a pruned trial's checkpoint is
        where the next run of the same student resumes (ssd.backends.sft.resume_point).
        """

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if reporter.due(int(state.global_step), int(state.max_steps)):
                control.should_save = True

        def on_save(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            step = int(state.global_step)
            if not reporter.due(step, int(state.max_steps)):
                return
            folder = Path(args.output_dir) / f"checkpoint-{step}"
            reporter.report(step, folder, int(state.num_input_tokens_seen))

    return _Fidelity()


def toy_hook(checkpoint_file: str, max_steps: int) -> Any:
    """`on_step(step, logprobs)` for the toy's SGD loop, or None without a reporter."""
    reporter = current()
    if reporter is None:
        return None

    def on_step(step: int, logprobs: Any) -> None:
        if not reporter.due(step, max_steps):
            return
        import torch

        folder = reporter.checkpoint_dir(step)
        folder.mkdir(parents=True, exist_ok=True)
        torch.save(logprobs, folder / checkpoint_file)
        reporter.report(step, folder)

    return on_step
