"""Must-show 3: each stage's cache key holds exactly the settings that change its artifact.

Every config dataclass declares its fields as ``CACHE.affects`` or ``CACHE.ignores``
(``ssd.config.CacheFields``); the first test fails for a field in neither list, so a new setting
cannot silently join or miss the key. Then: changing a field that affects changes the payload,
one that is ignored does not; and real trials hit or miss the training cache accordingly.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from omegaconf import DictConfig

import ssd.config as config
from ssd.config import TrainingConfig, cache_payload
from ssd.pipeline import run_trial

SECTIONS = [
    cls
    for _, cls in inspect.getmembers(config, inspect.isclass)
    if dataclasses.is_dataclass(cls)
    and cls.__module__ == config.__name__
    and cls is not config.CacheFields
]


def test_every_config_dataclass_is_walked() -> None:
    names = {cls.__name__ for cls in SECTIONS}
    assert {"RunConfig", "SamplingConfig", "TrainingConfig", "EvaluationConfig"} <= names
    assert {"ModelConfig", "DataConfig", "FilterConfig", "SGDConfig"} <= names


@pytest.mark.parametrize("cls", SECTIONS, ids=lambda c: c.__name__)
def test_every_field_is_declared_as_affecting_or_ignored(cls: type) -> None:
    spec = cls.CACHE
    fields = set(config.field_names(cls))
    undeclared = fields - set(spec.affects) - set(spec.ignores)
    assert not undeclared, f"{cls.__name__}: declare {sorted(undeclared)} in CACHE"
    assert not set(spec.affects) & set(spec.ignores), f"{cls.__name__}: in both lists"
    assert set(spec.affects) | set(spec.ignores) <= fields, f"{cls.__name__}: unknown names"


def _changed(value: Any) -> Any:
    """Another value of the same type."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value + 1
    if isinstance(value, str):
        return value + "x"
    if value is None:
        return "x"
    if isinstance(value, list):
        return [*value, value[-1] if value else 1]
    if isinstance(value, dict):
        return {**value, "x": 1}
    if dataclasses.is_dataclass(value):
        first = dataclasses.fields(value)[0].name
        return dataclasses.replace(value, **{first: _changed(getattr(value, first))})
    raise TypeError(type(value))


def _instance(cls: type) -> Any:
    """A valid instance: the sections' own defaults (RunConfig's are toy-consistent with sgd)."""
    if cls is config.RunConfig:
        return cls(training=TrainingConfig(method="sgd"))
    return cls()


@pytest.mark.parametrize("cls", [c for c in SECTIONS if c is not config.RunConfig])
def test_changing_a_field_changes_the_payload_exactly_when_it_affects(cls: type) -> None:
    section = _instance(cls)
    before = cache_payload(section)
    for f in dataclasses.fields(cls):
        other = object.__new__(cls)  # skip __post_init__: the value may be out of range
        other.__dict__.update(section.__dict__)
        setattr(other, f.name, _changed(getattr(section, f.name)))
        same = cache_payload(other) == before
        assert same == (f.name in cls.CACHE.ignores), f"{cls.__name__}.{f.name}"


def test_each_training_method_is_keyed_on_what_it_reads() -> None:
    sft = TrainingConfig(method="sft")
    assert "sgd" not in sft.cache_payload() and "learning_rate" in sft.cache_payload()
    sgd = TrainingConfig(method="sgd")
    assert set(sgd.cache_payload()) == {"method", "sgd", "filter"}
    moved = TrainingConfig(method="sgd", learning_rate=1.0, max_steps=7)  # SFT keys
    assert moved.cache_payload() == sgd.cache_payload()


def _trial(compose_cfg: Callable[..., DictConfig], out: Path, overrides: list[str]) -> dict:
    from ssd.config import RunConfig

    return run_trial(RunConfig.from_dictconfig(compose_cfg(overrides)), out)


TOY = [
    "model=toy",
    "sampling.n=2000",
    "evaluation.num_problems=5",
    "++evaluation.include_ideal=false",
    "training.sgd.steps=20",
]


def test_toy_training_cache_hits_on_ignored_and_misses_on_affecting_changes(
    compose_cfg: Callable[..., DictConfig], tmp_path: Path
) -> None:
    first = _trial(compose_cfg, tmp_path / "a", TOY)
    assert not first["cache"]["train"]["hit"]
    # SFT's keys and the logging/saving ones do not change the toy's logit table.
    same = _trial(compose_cfg, tmp_path / "b", [*TOY, "++training.logging_steps=1"])
    assert same["cache"]["train"]["hit"]
    assert same["cache"]["train"]["key"] == first["cache"]["train"]["key"]
    moved = _trial(compose_cfg, tmp_path / "c", [*TOY, "training.sgd.learning_rate=0.05"])
    assert moved["cache"]["samples"]["hit"] and not moved["cache"]["train"]["hit"]


TINY_SFT = [
    "model=tiny",
    "data.num_prompts=4",
    "sampling.max_tokens=8",
    "training.max_steps=2",
    "evaluation.num_problems=2",
    "evaluation.n=1",
    "evaluation.k=[1]",
    "++evaluation.include_ideal=false",
    "evaluation.workers=1",
]


@pytest.mark.slow
def test_sft_training_cache_hits_on_logging_steps_and_misses_on_learning_rate(
    compose_cfg: Callable[..., DictConfig], tmp_path: Path
) -> None:
    """The issue's case on real SFT runs of the tiny model (~3 min on 2 heavily loaded cores)."""
    first = _trial(compose_cfg, tmp_path / "a", TINY_SFT)
    assert not first["cache"]["train"]["hit"]
    logged = _trial(compose_cfg, tmp_path / "b", [*TINY_SFT, "training.logging_steps=1"])
    assert all(v["hit"] for v in logged["cache"].values())
    for key in ("save_steps=3", "torch_threads=1"):
        assert _trial(compose_cfg, tmp_path / key, [*TINY_SFT, f"training.{key}"])["cache"][
            "train"
        ]["hit"]
    moved = _trial(compose_cfg, tmp_path / "c", [*TINY_SFT, "training.learning_rate=1e-3"])
    assert moved["cache"]["samples"]["hit"] and not moved["cache"]["train"]["hit"]
