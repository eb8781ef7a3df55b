"""The launchers of `hydra_plugins.ssd_submitit_launcher` (imported only with submitit present)."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, filter_overrides
from hydra_plugins.hydra_submitit_launcher import submitit_launcher as upstream
from hydra_plugins.hydra_submitit_launcher.config import (
    BaseQueueConf,
    LocalQueueConf,
    SlurmQueueConf,
)
from omegaconf import OmegaConf

log = logging.getLogger(__name__)


class _PerJobOutcome(upstream.BaseSubmititLauncher):
    """Upstream's launch(), but a job that ends without a result fails alone."""

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        import submitit  # lazy, as upstream: plugin discovery stays fast

        assert self.config is not None and len(job_overrides) > 0
        # Executor and parameters exactly as upstream (hydra-submitit-launcher 1.2) builds them.
        specific_init_keys = {"max_num_timeout"}
        init_params = {"folder": self.params["submitit_folder"]}
        init_params |= {
            f"{self._EXECUTOR}_{k}": v for k, v in self.params.items() if k in specific_init_keys
        }
        executor = submitit.AutoExecutor(cluster=self._EXECUTOR, **init_params)
        base_keys = set(OmegaConf.structured(BaseQueueConf).keys())
        executor.update_parameters(
            **{
                k if k in base_keys else f"{self._EXECUTOR}_{k}": v
                for k, v in self.params.items()
                if k not in specific_init_keys | {"submitit_folder"}
            }
        )
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        log.info(f"Submitit '{self._EXECUTOR}' sweep output dir : {sweep_dir}")
        sweep_dir.mkdir(parents=True, exist_ok=True)
        if "mode" in self.config.hydra.sweep:
            os.chmod(sweep_dir, mode=int(str(self.config.hydra.sweep.mode), 8))

        job_params: list[Any] = []
        for idx, overrides in enumerate(job_overrides, start=initial_job_idx):
            log.info(f"\t#{idx} : {' '.join(filter_overrides(overrides))}")
            job_params.append(
                (
                    list(overrides),
                    "hydra.sweep.dir",
                    idx,
                    f"job_id_for_{idx}",
                    Singleton.get_state(),
                )
            )
        jobs = executor.map_array(self, *zip(*job_params, strict=True))
        return [_outcome(job, o) for job, o in zip(jobs, job_overrides, strict=True)]


def _outcome(job: Any, overrides: Sequence[str]) -> JobReturn:
    """The job's JobReturn; FAILED with submitit's error if the job ended without one."""
    try:
        ret: JobReturn = job.results()[0]
        return ret
    except Exception as e:  # killed (time limit, memory, node), or its pickle did not load
        log.error("Submitit job %s ended without a result: %s", job.job_id, str(e).split("\n")[0])
        return JobReturn(overrides=list(overrides), status=JobStatus.FAILED, _return_value=e)


class LocalLauncher(_PerJobOutcome):
    _EXECUTOR = "local"


class SlurmLauncher(_PerJobOutcome):
    _EXECUTOR = "slurm"
    # Submitted jobs run on after the sweeper stops (Ctrl-C, a lost login session): the
    # ssd_optuna sweeper then leaves their trials RUNNING for the next run to read back.
    jobs_outlive_sweeper = True


@dataclass
class SsdLocalQueueConf(LocalQueueConf):
    _target_: str = f"{LocalLauncher.__module__}.LocalLauncher"


@dataclass
class SsdSlurmQueueConf(SlurmQueueConf):
    _target_: str = f"{SlurmLauncher.__module__}.SlurmLauncher"


def register_configs() -> None:
    """`hydra/launcher=ssd_submitit_local|ssd_submitit_slurm` (upstream's keys, our launchers)."""
    cs = ConfigStore.instance()
    cs.store(
        group="hydra/launcher", name="ssd_submitit_local", node=SsdLocalQueueConf, provider="ssd"
    )
    cs.store(
        group="hydra/launcher", name="ssd_submitit_slurm", node=SsdSlurmQueueConf, provider="ssd"
    )
