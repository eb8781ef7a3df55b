"""Checks of the sweeper's own settings (`hydra.sweeper.*`), before any study or job exists.

Why: a job's config is checked by `ssd.config` / `ssd.preflight` (one line naming the key,
exit 2, nothing left behind). The sweeper's nodes (`inner`, `fidelity`, `screen`, the pruner)
are read by code that runs later, some of it only inside the jobs: without these checks a typo
fails through Hydra's instantiate with a traceback, or after the study's journal exists (a
later run then resumes it as a started study), or in every trial. `SweepConfigError` carries
the one-line message; `ssd.config.exit_invalid` prints it and exits 2, as for the CLI's checks.
Test: ``pytest tests/test_sweep_config_errors.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ssd.config import is_integer, is_number

FIDELITY_KEYS = ("every_steps", "num_problems", "t_eval")
SCREEN_KEYS = ("study", "storage", "top")


class SweepConfigError(ValueError):
    """A bad `hydra.sweeper.*` key or value; the message names the key and what it expects."""


def _mapping(node: Any, key: str) -> Mapping[str, Any]:
    if not isinstance(node, Mapping):
        raise SweepConfigError(f"{key}={node!r}: expected a mapping of settings")
    return node


def _known(node: Mapping[str, Any], key: str, known: tuple[str, ...]) -> None:
    unknown = sorted(set(node) - set(known))
    if unknown:
        raise SweepConfigError(f"{key}: unknown keys {unknown}; expected some of {sorted(known)}")


def check_fidelity(node: Any) -> dict[str, Any]:
    """`hydra.sweeper.fidelity`: every_steps >= 1, num_problems >= 1 or -1, t_eval null or > 0."""
    fidelity = dict(_mapping(node, "hydra.sweeper.fidelity"))
    _known(fidelity, "hydra.sweeper.fidelity", FIDELITY_KEYS)
    every = fidelity.get("every_steps", 100)
    if not is_integer(every) or every < 1:
        raise SweepConfigError(
            f"hydra.sweeper.fidelity.every_steps={every!r}: expected an integer >= 1 (SFT steps)"
        )
    problems = fidelity.get("num_problems", 50)
    if not is_integer(problems) or (problems < 1 and problems != -1):
        raise SweepConfigError(
            f"hydra.sweeper.fidelity.num_problems={problems!r}: expected an integer >= 1, "
            "or -1 for all problems"
        )
    t_eval = fidelity.get("t_eval")
    if t_eval is not None and (not is_number(t_eval) or not t_eval > 0):
        raise SweepConfigError(
            f"hydra.sweeper.fidelity.t_eval={t_eval!r}: expected a temperature > 0, or null "
            "for the trial's evaluation.temperature"
        )
    return fidelity


def check_screen(node: Any) -> dict[str, Any]:
    """`hydra.sweeper.screen`: study a name or null, top an integer >= 1, storage a URL, a
    journal path or a node with _target_ (whether the study exists is checked by the sweeper,
    which knows the sweep folder)."""
    screen = dict(_mapping(node, "hydra.sweeper.screen"))
    _known(screen, "hydra.sweeper.screen", SCREEN_KEYS)
    study = screen.get("study")
    if study is not None and (not isinstance(study, str) or not study):
        raise SweepConfigError(
            f"hydra.sweeper.screen.study={study!r}: expected the name of a finished screening "
            "study (e.g. teff_screen_toy), or null"
        )
    top = screen.get("top", 3)
    if not is_integer(top) or top < 1:
        raise SweepConfigError(
            f"hydra.sweeper.screen.top={top!r}: expected an integer >= 1 (points to run first)"
        )
    storage = screen.get("storage")
    if storage is not None and not (
        (isinstance(storage, str) and storage)
        or (isinstance(storage, Mapping) and "_target_" in storage)
    ):
        raise SweepConfigError(
            f"hydra.sweeper.screen.storage={storage!r}: expected a URL, a journal file path, a "
            "node with _target_, or null for <sweep dir>/../<study>/optuna.journal"
        )
    return screen


def check_inner(node: Any) -> dict[str, Any]:
    """`hydra.sweeper.inner`: the keys and values `ssd.nested.inner_spec` accepts."""
    from ssd.nested import inner_spec

    inner = dict(_mapping(node, "hydra.sweeper.inner"))
    try:
        inner_spec(inner)
    except ValueError as e:
        raise SweepConfigError(str(e)) from None
    return inner


def check_pruner(node: Any) -> None:
    """`hydra.sweeper.pruner`: builds the Optuna pruner once here, as every job will."""
    from hydra.utils import instantiate

    target = node.get("_target_") if isinstance(node, Mapping) else None
    if not target:
        raise SweepConfigError(
            f"hydra.sweeper.pruner={node!r}: expected a pruner node; choose one with "
            "hydra/sweeper/pruner=none|median|successive_halving|hyperband|wilcoxon"
        )
    try:
        instantiate(node)
    except Exception as e:  # instantiate wraps the pruner's own ValueError
        cause = e.__cause__ or e
        raise SweepConfigError(
            f"hydra.sweeper.pruner ({target}): {type(cause).__name__}: {cause}"
        ) from None
