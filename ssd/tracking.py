"""Weights & Biases logging; the only module that imports wandb.

Offline by default (``tracking.mode=offline``: local run folders, ``wandb sync`` uploads them
later), ``online`` when the user asks, ``disabled`` for tests (``tracking=none``). One run per
process and stage: ``group`` is the study or experiment, ``job_type`` the stage.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def _get(cfg: Any, key: str, default: Any = None) -> Any:
    if isinstance(cfg, Mapping):
        return cfg.get(key, default)
    return getattr(cfg, key, default)


@contextmanager
def open_run(
    tracking: Any,
    *,
    name: str,
    group: str | None,
    job_type: str,
    config: dict[str, Any],
    dir: Path,
) -> Iterator[Any]:
    """A W&B run for the block, or None when tracking is disabled; always finished.

    Args:
        tracking: a ``TrackingConfig`` (or a mapping with the same keys).
        name: the run name (trial and stage).
        group: W&B group (study or experiment name); ``tracking.group`` wins when set.
        job_type: the stage (``trial``, ``sweep_summary``, ...).
        config: the resolved config, logged at init (run.config is read-only afterwards).
        dir: where wandb writes its run folder.
    """
    mode = _get(tracking, "mode", "offline")
    if mode == "disabled" or os.environ.get("WANDB_MODE") == "disabled":
        yield None
        return
    import wandb

    Path(dir).mkdir(parents=True, exist_ok=True)
    run = wandb.init(
        project=_get(tracking, "project", "ssd"),
        entity=_get(tracking, "entity"),
        group=_get(tracking, "group") or group,
        job_type=job_type,
        name=_get(tracking, "name") or name,
        tags=list(_get(tracking, "tags", []) or []),
        config=config,
        dir=str(dir),
        mode=mode,
        reinit="finish_previous",
    )
    try:
        yield run
    finally:
        run.finish()
        log.info("wandb %s run written under %s", mode, dir)


def flatten(metrics: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """Nested numeric metrics as ``a.b.c`` keys (strings and lists are left out)."""
    out: dict[str, float] = {}
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, prefix=f"{name}."))
        elif isinstance(value, bool):
            out[name] = float(value)
        elif isinstance(value, int | float):
            out[name] = float(value)
    return out


def log_metrics(run: Any, metrics: Mapping[str, Any]) -> None:
    """Log flattened metrics and put them in the run summary."""
    if run is None:
        return
    flat = flatten(metrics)
    run.log(flat)
    run.summary.update(flat)


def log_table(run: Any, key: str, dataframe: Any) -> None:
    """Log a pandas DataFrame as a W&B table."""
    if run is None:
        return
    import wandb

    run.log({key: wandb.Table(dataframe=dataframe)})


def log_image(run: Any, key: str, png_path: Path) -> None:
    """Log a PNG file as a W&B image."""
    if run is None:
        return
    import wandb

    run.log({key: wandb.Image(str(png_path))})
