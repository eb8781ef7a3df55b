"""The ``ssd`` console script: one SSD trial as a Hydra app (``ssd --help``).

    ssd model=toy sampling.temperature=1.6 evaluation.temperature=0.9
    ssd -m +sweep=teff model=toy

Config flows in here and only here: the composed config becomes a validated ``RunConfig``
before any compute, and the stages get typed sub-configs.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from ssd import study_link
from ssd.config import ConfigError, exit_invalid
from ssd.preflight import validate

log = logging.getLogger(__name__)


# An absolute path: a console script is imported as a module, and Hydra would otherwise look
# for a Python package named ``conf``. The configs live at the repository root (editable install).
CONF_DIR = str(Path(__file__).resolve().parents[1] / "conf")


def _discard_run_dir(out_dir: Path, root: Path) -> None:
    """Remove a run folder that holds nothing but Hydra's config copy (no half-written runs), and
    the folders above it up to ``root`` (paths.output_dir) that it leaves empty."""
    if out_dir.is_dir() and all(
        p.name == ".hydra" or p.suffix == ".log" for p in out_dir.iterdir()
    ):
        shutil.rmtree(out_dir)
        for parent in out_dir.parents:
            if not parent.is_relative_to(root):
                break
            try:  # only empty folders: another run's are kept
                parent.rmdir()
            except OSError:
                break


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="config")
def main(cfg: DictConfig) -> float | Exception:
    hydra_cfg = HydraConfig.get()
    out_dir = Path(hydra_cfg.runtime.output_dir)
    with open_dict(cfg):
        if hydra_cfg.mode is not None and hydra_cfg.mode.name == "MULTIRUN":
            study = cfg.trial.get("study") or hydra_cfg.job.name
            cfg.trial.setdefault("name", f"{study}-{hydra_cfg.job.num}")
            cfg.trial.setdefault("number", hydra_cfg.job.num)
    multirun = hydra_cfg.mode is not None and hydra_cfg.mode.name == "MULTIRUN"
    try:
        run = validate(cfg)  # values and files; names the bad key, before any compute
    except ConfigError as err:
        if multirun:  # the sweeper records the trial as failed with this message
            raise
        _discard_run_dir(out_dir, Path(str(cfg.paths.output_dir)).absolute())
        exit_invalid(err)
    # Imported here: torch and the backends load only once the config is known to be good.
    from ssd.pipeline import run_tracked
    from ssd.report import print_trial_summary

    link = study_link.from_hydra(hydra_cfg, cfg.trial.get("number", 0)) if multirun else None
    try:
        results = run_tracked(run, out_dir, link=link)
    except Exception as e:
        if link is not None and type(e).__name__ == "TrialPruned":
            # A pruned trial is an outcome, not a failure: handed back rather than raised, so
            # that Hydra does not print "Error executing job"; the sweeper records it PRUNED
            # (ssd.fidelity wrote its results.json and the W&B run).
            return e
        raise
    print_trial_summary(results, out_dir)
    return float(results["objective"])


if __name__ == "__main__":
    main()
