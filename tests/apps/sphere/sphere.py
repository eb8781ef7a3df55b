"""A tiny Hydra app for the sweeper tests: the sphere function, plus knobs to sleep, fail and die.

Run: `python tests/apps/sphere/sphere.py -m hydra.sweeper.n_trials=5`. Each job writes a
results.json (the schema of ssd's runs, reduced) so the sweeper's metric capture can be tested.
"""

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig


def sphere(cfg: DictConfig) -> float | tuple[float, float]:
    """(x - 1)^2 + (y + 0.5)^2; fails when x > cfg.fail_above (if set); sleeps cfg.sleep s.

    With cfg.pair it returns (value, |x|), a two-objective problem. When x > cfg.die_above (if
    set) the process kills itself with SIGKILL, as the OOM killer or a scheduler's time limit
    would: no exception, no return value.
    """
    time.sleep(cfg.sleep)
    x, y = float(cfg.x), float(cfg.y)
    if cfg.die_above is not None and x > cfg.die_above:
        os.kill(os.getpid(), signal.SIGKILL)
    if cfg.fail_above is not None and x > cfg.fail_above:
        raise RuntimeError(f"x={x} is above fail_above={cfg.fail_above}")
    value = (x - 1.0) ** 2 + (y + 0.5) ** 2
    ret = (value, abs(x)) if cfg.pair else value
    out = Path(HydraConfig.get().runtime.output_dir)
    (out / "label.json").write_text(json.dumps(cfg.label))
    # As ssd.cli: results.json last and atomically, "objective" = what the sweeper gets back.
    results = {"objective": ret, "t_eff": x * y, "ssd": {"pass@1": -value}, "config": {"x": x}}
    tmp = out / ".results.json.tmp"
    tmp.write_text(json.dumps(results))
    tmp.replace(out / "results.json")
    return ret


def add_label(cfg: DictConfig, trial: Any) -> None:
    """A custom_search_space hook: one more (string) parameter, defined by run."""
    trial.suggest_categorical("label", ["p q", "r,s"])


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float | tuple[float, float]:
    return sphere(cfg)


if __name__ == "__main__":
    main()
