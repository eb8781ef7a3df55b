"""Equation 4's terms sum to the cross-entropy against the SSD target; Eq. 30 sums to H."""

from __future__ import annotations

import math

import pytest
import torch

from analysis.equation4 import entropy_split, equation4_terms, retained_set, summarise
from ssd.decoding import Decoding, chain_logprobs, warp

DECODINGS = [
    Decoding(0.5),
    Decoding(0.7, 5, 0.9),
    Decoding(1.0, 0, 0.8),
    Decoding(1.3, 10, 0.95),
    Decoding(1.6, 20, 0.8),
    Decoding(2.0, 3),
    Decoding(0.9, 0, 0.85),
]


def _random_logits(seed: int, rows: int = 64, vocab: int = 50, scale: float = 3.0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(rows, vocab, generator=generator, dtype=torch.float64) * scale


@pytest.mark.parametrize("decoding", DECODINGS, ids=str)
def test_terms_sum_to_the_direct_cross_entropy(decoding: Decoding) -> None:
    base, student = _random_logits(0), _random_logits(1)
    base[:, -5:] = float("-inf")  # tokens the base never emits: outside every retained set
    terms = equation4_terms(base, student, decoding)
    # CE(q, p_theta) computed here from scratch: q from the shared decoding, p_theta by softmax.
    q = torch.exp(warp(base, decoding))
    log_p = torch.log_softmax(student, dim=-1)
    direct = -(torch.where(q > 0, q * log_p, torch.zeros_like(q))).sum(-1)
    total = terms["compression"] + terms["reshaping"] + terms["alignment"] + terms["constant"]
    assert torch.allclose(total, direct, atol=1e-6, rtol=0)
    assert torch.allclose(terms["cross_entropy"], direct, atol=1e-12, rtol=0)
    assert (terms["alignment"] >= -1e-12).all()
    assert (terms["compression"] >= -1e-12).all()


@pytest.mark.parametrize("temperature", [0.4, 0.9, 1.0, 1.5, 2.5])
def test_no_truncation_means_no_support_compression(temperature: float) -> None:
    terms = equation4_terms(_random_logits(2), _random_logits(3), Decoding(temperature))
    assert terms["compression"].abs().max() < 1e-12
    assert torch.allclose(terms["kept_mass"], torch.ones(64, dtype=torch.float64))


@pytest.mark.parametrize("decoding", [Decoding(1.0), Decoding(1.0, 5, 0.8), Decoding(1.0, 0, 0.5)])
def test_reshaping_vanishes_at_temperature_one(decoding: Decoding) -> None:
    terms = equation4_terms(_random_logits(4), _random_logits(5), decoding)
    assert terms["reshaping"].abs().max() < 1e-12
    # With truncation the compression term is there (the student puts mass outside S).
    if decoding.top_k or decoding.top_p < 1:
        assert (terms["compression"] > 0).all()


def test_hand_computed_example() -> None:
    # p0 = (0.5, 0.3, 0.2), T = 1, top-k 2: S = {0, 1}, q = (0.625, 0.375, 0); uniform student.
    base = torch.log(torch.tensor([[0.5, 0.3, 0.2]], dtype=torch.float64))
    student = torch.zeros(1, 3, dtype=torch.float64)
    terms = equation4_terms(base, student, Decoding(1.0, 2))
    assert terms["compression"].item() == pytest.approx(math.log(1.5))
    assert terms["cross_entropy"].item() == pytest.approx(math.log(3))
    h_q = -(0.625 * math.log(0.625) + 0.375 * math.log(0.375))
    assert terms["constant"].item() == pytest.approx(h_q)
    assert terms["alignment"].item() == pytest.approx(math.log(2) - h_q)


def test_base_as_student_has_no_alignment_term() -> None:
    # Temper_T[p0(.|S)] is q itself, so the base model starts SSD perfectly aligned.
    base = _random_logits(6)
    for decoding in DECODINGS:
        terms = equation4_terms(base, base, decoding)
        assert terms["alignment"].abs().max() < 1e-10


@pytest.mark.parametrize("decoding", DECODINGS, ids=str)
def test_entropy_split_sums_to_entropy(decoding: Decoding) -> None:
    base, student = _random_logits(7), _random_logits(8)
    split = entropy_split(student, retained_set(base, decoding))
    assert torch.allclose(
        split["gate"] + split["head"] + split["tail"], split["entropy"], atol=1e-9
    )
    assert (split["gate"] >= -1e-12).all() and (split["gate"] <= math.log(2) + 1e-12).all()


def test_entropy_split_when_s_holds_everything() -> None:
    # The ideal student is zero outside S: no gate, no tail, finite numbers.
    decoding = Decoding(1.6, 20, 0.8)
    base = _random_logits(9)
    student = chain_logprobs(base, [decoding])
    split = entropy_split(student, retained_set(base, decoding))
    assert split["gate"].abs().max() < 1e-9 and split["tail"].abs().max() < 1e-12
    assert torch.allclose(split["head"], split["entropy"])


def test_summary_by_class_and_bad_input() -> None:
    base, student = _random_logits(10, rows=6), _random_logits(11, rows=6)
    classes = ["lock", "fork", "fork", "lock", "fork", "certain"]
    table = summarise(base, student, Decoding(1.5, 10, 0.9), classes).set_index("class")
    assert table.loc["all", "positions"] == 6 and table.loc["fork", "positions"] == 3
    assert table.loc["all", "total"] == pytest.approx(table.loc["all", "cross_entropy"])
    with pytest.raises(ValueError, match="temperature > 0"):
        equation4_terms(base, student, Decoding(0.0))
    with pytest.raises(ValueError, match="shapes differ"):
        equation4_terms(base, student[:, :10], Decoding(1.0))
