"""The paper's toy model: its distributions, exact success probability, and the SGD student."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ssd.decoding import Decoding, chain_logprobs
from ssd.models import toy


def test_state_distributions_match_the_paper_table() -> None:
    p = toy.teacher_logprobs().exp()
    assert p.shape == (toy.NUM_STATES, toy.VOCAB)
    assert torch.allclose(p.sum(-1), torch.ones(toy.NUM_STATES, dtype=torch.float64))
    assert p[0, :4].tolist() == pytest.approx([0.200, 0.190, 0.329, 0.126])
    assert p[1, :4].tolist() == pytest.approx([0.148, 0.280, 0.140, 0.144])
    assert p[2, :4].tolist() == pytest.approx([0.750, 0.055, 0.050, 0.037])
    # Geometric tail: consecutive ratios equal r (0.75 at locks, 0.5 at forks and the root).
    assert (p[2, 5:] / p[2, 4:-1]).tolist() == pytest.approx([0.75] * 11)
    assert (p[1, 5:] / p[1, 4:-1]).tolist() == pytest.approx([0.5] * 11)


def test_transitions() -> None:
    assert toy.next_state(toy.ROOT_STATE, 0) == 1 and toy.next_state(toy.ROOT_STATE, 1) == 5
    assert toy.next_state(toy.ROOT_STATE, 2) is None  # the failing root token
    assert toy.next_state(4, 0) == -1 and toy.next_state(8, 0) == -1  # PASS after lock 3
    assert toy.next_state(2, 1) is None


def test_success_probability_is_the_paper_formula() -> None:
    lp = toy.teacher_logprobs()
    chain = [Decoding(1.3, 0, 0.8)]
    q = torch.exp(chain_logprobs(lp, chain))
    formula = float((q[0, 0] + q[0, 1]) * q[1, 0] * q[2, 0] ** 3)
    assert toy.success_probability(lp, chain) == pytest.approx(formula, rel=1e-12)


def test_sampled_success_rate_matches_exact() -> None:
    lp = toy.teacher_logprobs()
    chain = [Decoding(1.0, 0, 0.8)]
    n = 40_000
    _, passed = toy.sample_sequences(lp, chain, n, torch.Generator().manual_seed(3))
    p = toy.success_probability(lp, chain)
    assert abs(np.mean(passed) - p) < 5 * np.sqrt(p * (1 - p) / n)


def test_ideal_student_is_tempered_then_truncated_teacher() -> None:
    train = toy.PAPER_TRAIN
    p = toy.teacher_logprobs().exp()
    ideal = toy.ideal_student_logprobs(train).exp()
    for s in range(toy.NUM_STATES):
        tempered = p[s] ** (1 / train.temperature)
        tempered /= tempered.sum()
        order = torch.argsort(tempered, descending=True, stable=True)
        cum = torch.cumsum(tempered[order], 0)
        keep = order[: int((cum < train.top_p - 1e-9).sum()) + 1]
        expected = torch.zeros_like(tempered)
        expected[keep] = tempered[keep] / tempered[keep].sum()
        assert torch.allclose(ideal[s], expected, atol=1e-12)


def test_ssd_beats_the_best_tuned_teacher_in_the_paper_setting() -> None:
    numbers = toy.paper_numbers()
    teacher, student = numbers["teacher"], numbers["ideal_student"]
    assert student.best > teacher.best + 0.03
    # The student peaks at a higher evaluation temperature: its lock tails are gone.
    assert student.temperature > teacher.temperature


def test_trained_student_approaches_ideal_fit() -> None:
    train = toy.PAPER_TRAIN
    lp = toy.teacher_logprobs()
    seqs, _ = toy.sample_sequences(lp, [train], 50_000, torch.Generator().manual_seed(0))
    student, losses = toy.fit_student(toy.visited_counts(seqs), lp, steps=400, learning_rate=0.1)
    tv = toy.total_variation(student, toy.ideal_student_logprobs(train))
    assert losses[-1] < losses[0]
    assert float(tv.max()) < 0.02, tv
    # The teacher itself is far from the target: the fit did the work.
    assert float(toy.total_variation(lp, toy.ideal_student_logprobs(train)).max()) > 0.1


def test_cli_prints_the_headline_numbers(capsys: pytest.CaptureFixture[str]) -> None:
    toy.main([])
    out = capsys.readouterr().out
    assert "teacher" in out and "ideal_student" in out and "at T_eval" in out
