"""Hydra's own launcher/sweeper test suites, run against the `ssd_optuna` sweeper.

The grid sampler enumerates a discrete search space in the order of the overrides, so the
suites' expectations (cartesian order, batches of `n_jobs`, job folder = job number) apply as
they do to Hydra's basic sweeper. Run: `pytest tests/test_sweeper_hydra_suite.py`
(the IntegrationTestSuite part starts subprocesses and is marked `integration`).
"""

from collections.abc import Iterator

import pytest
from hydra import version
from hydra.test_utils.launcher_common_tests import (
    BatchedSweeperTestSuite,
    IntegrationTestSuite,
    LauncherTestSuite,
)


@pytest.fixture(autouse=True)
def fresh_version_base() -> Iterator[None]:
    """Hydra's version base is process-global: a ``compose(version_base="1.3")`` in an earlier
    test turns off the job chdir the suites expect. Give them a fresh process's default."""
    base = version.VersionBase.instance()
    saved = base.getbase()
    base.setbase(version.__compat_version__)  # what an unspecified base resolves to
    yield
    base.setbase(saved)


# A fresh list per suite: BatchedSweeperTestSuite extends the list it is given. The suites' tasks
# return None or strings, which the sweeper records as failed trials (no score): the failure
# limit is lifted so that the suites test the mechanics they were written for.
def _overrides() -> list[str]:
    return [
        "hydra/sweeper=ssd_optuna",
        "hydra/sweeper/sampler=grid",
        "hydra.sweeper.n_jobs=2",
        "hydra.sweeper.n_trials=100",
        "hydra.sweeper.max_failure_rate=1.0",
    ]


@pytest.mark.parametrize("launcher_name, overrides", [("basic", _overrides())])
class TestSweeperWithLauncherSuite(LauncherTestSuite):
    """Hydra's LauncherTestSuite with the basic launcher and our sweeper."""


@pytest.mark.parametrize("launcher_name, overrides", [("basic", _overrides())])
class TestSweeperBatched(BatchedSweeperTestSuite):
    """Batches of n_jobs=2 over a 2 x 3 grid: 3 batches, 6 folders."""


@pytest.mark.integration
@pytest.mark.parametrize(
    "task_launcher_cfg, extra_flags",
    # test_to_absolute_path_multirun runs the same sweep twice in one folder and expects two
    # jobs: a throwaway in-memory study, since a persistent one would resume (and run nothing).
    [
        (
            {},
            [
                "-m",
                "hydra/sweeper=ssd_optuna",
                "hydra.sweeper.max_failure_rate=1.0",
                "hydra.sweeper.storage=sqlite:///:memory:",
            ],
        )
    ],
)
class TestSweeperIntegration(IntegrationTestSuite):
    """Hydra's subprocess suite: job names, sweep/run dirs, original cwd under our sweeper."""
