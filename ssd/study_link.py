"""The job's line back to its sweep: what the ``ssd_optuna`` sweeper asks a trial to do itself.

Why: the official Hydra Optuna sweeper's jobs never see their trial, so they can neither run a
nested search nor report intermediate values for pruning. Every job of a multirun carries the
sweeper's config in ``HydraConfig``; ``from_hydra`` reads the parts a job acts on (the inner
T_eval search, the pruner and its fidelity schedule, and where the study lives) into a plain
record that ``ssd.cli`` hands to the pipeline. Nothing here goes into results.json or W&B (a
storage URL may hold a password).
Tests: ``pytest tests/test_nested_search.py tests/test_pruning.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

SWEEPER_TARGET = "hydra_plugins.ssd_optuna_sweeper.SsdOptunaSweeper"


@dataclass
class StudyLink:
    """What a trial's job needs from its sweep (all plain data: it crosses process boundaries)."""

    study_name: str
    storage: Any  # URL or journal path (str), or a storage node (dict with _target_)
    trial_number: int
    inner: dict[str, Any] | None = None  # hydra.sweeper.inner: the nested T_eval search
    pruner: dict[str, Any] | None = None  # hydra.sweeper.pruner (Optuna pruner node), or None
    fidelity: dict[str, Any] = field(default_factory=dict)  # hydra.sweeper.fidelity

    @property
    def prunes(self) -> bool:
        return self.pruner is not None and not str(self.pruner.get("_target_", "")).endswith(
            "NopPruner"
        )


def _plain(node: Any) -> Any:
    return OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node


def from_hydra(hydra_cfg: Any, trial_number: int) -> StudyLink | None:
    """The link of a multirun job of the ``ssd_optuna`` sweeper, or None (any other sweeper,
    or a sweep that neither nests nor prunes: its jobs need nothing from the study)."""
    sweeper = hydra_cfg.get("sweeper")
    if sweeper is None or str(sweeper.get("_target_", "")) != SWEEPER_TARGET:
        return None
    link = StudyLink(
        study_name=str(sweeper.get("study_name") or hydra_cfg.job.name),
        storage=_plain(sweeper.get("storage"))
        or str(Path(str(hydra_cfg.sweep.dir)).resolve() / "optuna.journal"),
        trial_number=int(trial_number),
        inner=_plain(sweeper.get("inner")),
        pruner=_plain(sweeper.get("pruner")),
        fidelity=_plain(sweeper.get("fidelity")) or {},
    )
    return link if (link.inner or link.prunes) else None
