"""Shared fixtures: W&B off, Hydra compose helper, a clean GlobalHydra after each test."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig

os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("WANDB_SILENT", "true")
# Before torch loads OpenMP: idle threads sleep instead of spinning, which on shared cores made
# the tiny models' loops 10-20x slower (also set by the Makefile; here for a bare `pytest`).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

ROOT = Path(__file__).resolve().parents[1]
CONF_DIR = ROOT / "conf"

# Started first under xdist (`make test`: whole files per worker, in collection order with
# --no-loadscope-reorder): the trained T_eff-law check is a third of the suite's CPU time but uses
# about 1.2 cores, so it should run beside the other worker's files, not alone at the end
# (xdist's default order, fewest tests last, started it after 7 of 12 minutes).
FIRST = "test_teff_law.py"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Move FIRST's tests to the front; the rest keep their order."""
    items.sort(key=lambda item: item.path.name != FIRST)


@pytest.fixture
def compose_cfg(tmp_path: Path) -> Iterator[Callable[..., DictConfig]]:
    """Compose ``conf/config.yaml`` with overrides; outputs and cache go to ``tmp_path``."""

    def _compose(
        overrides: list[str] | None = None, return_hydra_config: bool = False
    ) -> DictConfig:
        GlobalHydra.instance().clear()
        with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
            return compose(
                config_name="config",
                overrides=[f"paths.output_dir={tmp_path}", "tracking=none", *(overrides or [])],
                return_hydra_config=return_hydra_config,
            )

    yield _compose
    GlobalHydra.instance().clear()
