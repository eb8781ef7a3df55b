"""Hydra launchers `ssd_submitit_slurm` and `ssd_submitit_local`: hydra-submitit-launcher's, except
that a job that dies fails alone.

Upstream's `launch()` ends with `[job.results()[0] for job in jobs]`: one job of a batch killed
outside Python (SLURM time limit, out of memory, node failure) raises there, the results of the
batch's finished jobs are lost with it and the whole sweep stops. Here each job's outcome is its
own `JobReturn`; a dead job's is FAILED with submitit's error, so the ssd_optuna sweeper records
that trial as failed (`trials.csv`, `max_failure_rate` applies) and the others as they finished.
Used by `conf/launcher/slurm.yaml` and `conf/launcher/submitit_local.yaml`; needs
hydra-submitit-launcher (`pip install -e ".[slurm]"`), without which this package registers
nothing. Tests: tests/test_launchers.py; docs: docs/sweeps.md.
"""

try:
    import hydra_plugins.hydra_submitit_launcher  # noqa: F401
except ModuleNotFoundError:  # the `slurm` extra is not installed: no launchers here
    pass
else:
    from ._launcher import LocalLauncher, SlurmLauncher, register_configs

    __all__ = ["LocalLauncher", "SlurmLauncher"]
    register_configs()
