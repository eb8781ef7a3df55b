"""Stage functions for tests/test_isolated_stages.py, in a module that imports nothing heavy:
a spawned process imports the module of the function it runs, so these start in well under a
second where the test module (torch, hydra) would take several."""

from __future__ import annotations

import multiprocessing
import os
from typing import Any


def child_pid() -> int:
    return os.getpid()


def start_a_child() -> int:
    """What vLLM's engine does at start-up: start a process and wait for it."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return int(pool.apply(child_pid))


def stage_with_a_child(marker: str) -> dict[str, Any]:
    return {"stage_pid": os.getpid(), "child_pid": start_a_child(), "marker": marker}


def exit_abruptly() -> None:
    os._exit(3)  # as a CUDA crash or the OOM killer would end it: no exception, no result


def raise_value_error() -> None:
    raise ValueError("model.path='nowhere' is invalid")
