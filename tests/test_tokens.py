"""Per-position statistics, the four token panels and the lock/fork rule (toy and tiny HF model)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from analysis import token_sources
from analysis.tokens import (
    CLASSES,
    LockForkRule,
    classify,
    lock_fork_report,
    position_stats,
    token_report,
)
from ssd.decoding import Decoding, warp
from ssd.models import toy

torch.set_num_threads(1)


def _log(rows: list[list[float]]) -> torch.Tensor:
    return torch.log(torch.tensor(rows, dtype=torch.float64))


def test_classify_the_toy_states_and_edge_cases() -> None:
    teacher = toy.teacher_logprobs()
    classes = classify(teacher)
    assert classes[toy.ROOT_STATE] == "fork"  # tok0/tok1 (0.20/0.19) are both plausible
    assert all(classes[path[0]] == "fork" for path in toy.PATH_STATES)
    assert all(classes[s] == "lock" for path in toy.PATH_STATES for s in path[1:])
    rows = [[0.995] + [0.005 / 12] * 12, [0.40] + [0.05] * 12]
    assert list(classify(_log(rows))) == ["certain", "diffuse"]
    strict = LockForkRule(certain_top1=0.999, lock_top1=0.8, fork_second=0.06)
    assert classify(teacher, strict)[toy.PATH_STATES[0][1]] == "diffuse"  # 0.75 < 0.8


def test_rule_thresholds_are_validated() -> None:
    with pytest.raises(ValueError, match="lock_top1"):
        LockForkRule(lock_top1=0.995)
    with pytest.raises(ValueError, match="fork_second"):
        LockForkRule(fork_second=0.6)


def test_position_stats_agree_with_the_shared_decoding() -> None:
    logits = torch.randn(20, 30, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    decoding = Decoding(0.8, 7, 0.9)
    stats = position_stats(logits, decoding)
    kept = torch.isfinite(warp(logits, decoding)).sum(-1).numpy()
    assert (stats["support"].to_numpy() == kept).all()
    assert (stats["support"] <= 7).all() and (stats["kept_mass"] <= 1 + 1e-12).all()
    uniform = position_stats(torch.zeros(1, 16, dtype=torch.float64), Decoding(1.0))
    assert uniform["entropy"][0] == pytest.approx(math.log(16))
    assert uniform["kept_mass"][0] == pytest.approx(1.0)


def _check_panel_numbers(data: dict, vocab: int) -> None:
    cumulative = data["cumulative_mass"]
    for name in ("base", "ssd"):
        values = cumulative[name].to_numpy()
        assert (np.diff(values) >= -1e-12).all() and values[-1] <= 1 + 1e-9
        if len(values) == vocab:
            assert values[-1] == pytest.approx(1.0)
    # The base is untruncated: hotter evaluation keeps at least as many tokens under top-p.
    assert (np.diff(data["survivors"]["base"].to_numpy()) >= 0).all()
    assert (data["survivors"][["base", "ssd"]].to_numpy() >= 1).all()
    binned = data["binned"]
    assert binned.groupby(["model", "t_eval"])["positions"].sum().nunique() == 1


def test_toy_panels_and_report_before_and_after_ssd(tmp_path) -> None:
    base, ssd = token_sources.toy_positions(500, seed=0)
    assert base.shape == ssd.shape and base.shape[1] == toy.VOCAB
    result = token_report(
        base,
        ssd,
        tmp_path,
        title="toy",
        train=toy.PAPER_TRAIN,
        eval_decoding=Decoding(1.0, 0, toy.PAPER_EVAL_TOP_P),
    )
    assert result["figure"].stat().st_size > 10_000
    _check_panel_numbers(result["panels"], toy.VOCAB)
    # The ideal student holds nothing outside the training nucleus: no tail, no gate.
    eq4 = result["equation4"].set_index(["student", "class"])
    assert eq4.loc[("ssd", "all"), "tail"] == pytest.approx(0.0, abs=1e-12)
    assert eq4.loc[("base", "all"), "compression"] > 0.1
    assert eq4.loc[("ssd", "all"), "compression"] == pytest.approx(0.0, abs=1e-12)
    for name in ("report.md", "equation4.csv", "lockfork_counts.csv", "panel_binned.csv"):
        assert (tmp_path / name).exists()


def test_lock_fork_report_counts_and_transitions() -> None:
    base, ssd = token_sources.toy_positions(300, seed=1)
    report = lock_fork_report(base, ssd, eval_decoding=Decoding(1.0, 0, 0.8))
    assert list(report["counts"].index) == list(CLASSES)
    assert report["counts"]["base"].sum() == len(base) == report["transitions"].to_numpy().sum()
    by_class = report["by_class"]
    # At the toy's locks SSD (T 0.9, top-p 0.85) sharpens the winner and keeps fewer tokens.
    assert by_class.loc["lock", "ssd_top1"] > by_class.loc["lock", "base_top1"]
    assert by_class.loc["lock", "ssd_support"] < by_class.loc["lock", "base_support"]


@pytest.mark.integration
def test_tiny_hf_model_panels_before_and_after_ssd(tmp_path) -> None:
    train = Decoding(1.6, 20, 0.8)
    base, ssd = token_sources.tiny_hf_positions(train=train, n_prompts=8, new_tokens=12)
    assert base.shape == (8 * 12, 64)
    result = token_report(
        base, ssd, tmp_path, title="tiny qwen3", train=train, eval_decoding=Decoding(1.0, 20, 0.8)
    )
    assert result["figure"].stat().st_size > 10_000
    _check_panel_numbers(result["panels"], 64)
    counts = result["lockfork"]["counts"]
    assert counts["base"].sum() == counts["ssd"].sum() == len(base)


@pytest.mark.integration
def test_checkpoints_are_scored_on_the_same_generations(tmp_path) -> None:
    import json

    model = token_sources.tiny_qwen3(seed=3)
    model.save_pretrained(tmp_path / "base")
    prompts = torch.randint(0, 64, (2, 3), generator=torch.Generator().manual_seed(0))
    ids = token_sources.generate(model, prompts, 5, Decoding(1.0), seed=0)
    with (tmp_path / "samples.jsonl").open("w") as f:
        for row in ids.tolist():
            f.write(json.dumps({"prompt_token_ids": row[:3], "token_ids": row[3:]}) + "\n")
    base, ssd = token_sources.checkpoint_positions(
        str(tmp_path / "base"), str(tmp_path / "base"), str(tmp_path / "samples.jsonl")
    )
    assert base.shape == (10, 64)
    assert torch.allclose(base, ssd)
    assert torch.allclose(base, token_sources.completion_logits(model, ids, 3), atol=1e-5)
