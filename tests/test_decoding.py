"""The shared decoding function on crafted distributions: vLLM's order, ties, exact top-p."""

from __future__ import annotations

import math

import pytest
import torch

from ssd.decoding import Decoding, chain_logprobs, sample_from_logprobs, warp


def probs(values: list[float], decoding: Decoding) -> list[float]:
    return [round(float(x), 6) for x in warp(torch.log(torch.tensor(values)), decoding).exp()]


def test_temperature_one_without_truncation_is_identity() -> None:
    assert probs([0.5, 0.3, 0.2], Decoding(1.0)) == [0.5, 0.3, 0.2]


def test_temperature_sharpens_and_flattens() -> None:
    p = torch.tensor([0.5, 0.3, 0.2])
    for t in (0.5, 2.0):
        expected = p ** (1 / t) / (p ** (1 / t)).sum()
        assert torch.allclose(warp(p.log(), Decoding(t)).exp(), expected.double(), atol=1e-12)


def test_top_p_reached_exactly_keeps_the_prefix_that_reaches_it() -> None:
    # 0.5 + 0.3 reaches 0.8 exactly (up to rounding): the 0.2 token goes.
    assert probs([0.5, 0.3, 0.2], Decoding(1.0, 0, 0.8)) == [0.625, 0.375, 0.0]
    # Just above 0.8 the third token is needed.
    assert probs([0.5, 0.3, 0.2], Decoding(1.0, 0, 0.800001)) == [0.5, 0.3, 0.2]


def test_top_p_keeps_at_least_one_token() -> None:
    assert probs([0.9, 0.05, 0.05], Decoding(1.0, 0, 0.01)) == [1.0, 0.0, 0.0]


def test_top_k_keeps_every_token_tied_with_the_kth() -> None:
    out = probs([0.3, 0.3, 0.3, 0.1], Decoding(1.0, 2, 1.0))
    assert out == [round(1 / 3, 6)] * 3 + [0.0]


def test_top_k_exact_keeps_k_tokens_and_the_lower_ids_on_ties() -> None:
    """vLLM's rule on CUDA (ssd.backends.vllm_limits.VLLM_TOP_K_TIES): exactly k tokens."""
    logits = torch.log(torch.tensor([0.1, 0.3, 0.3, 0.3], dtype=torch.float64))
    out = torch.exp(warp(logits, Decoding(1.0, 2, 1.0), "exact")).tolist()
    assert [round(p, 6) for p in out] == [0.0, 0.5, 0.5, 0.0]
    with pytest.raises(ValueError, match="top_k_ties='lowest'"):
        warp(logits, Decoding(1.0, 2, 1.0), "lowest")


def test_top_k_off_with_zero_and_minus_one() -> None:
    assert probs([0.4, 0.3, 0.2, 0.1], Decoding(1.0, 0)) == probs(
        [0.4, 0.3, 0.2, 0.1], Decoding(1.0, -1)
    )
    assert probs([0.4, 0.3, 0.2, 0.1], Decoding(1.0, -1)) == [0.4, 0.3, 0.2, 0.1]


def test_top_p_ties_break_by_lower_token_id() -> None:
    # Two tied tokens, only one needed to reach 0.4: the lower id is kept.
    assert probs([0.2, 0.4, 0.4], Decoding(1.0, 0, 0.4)) == [0.0, 1.0, 0.0]


def test_order_is_temperature_then_top_k_then_top_p() -> None:
    # Top-p on the tempered distribution: at T=2 the head flattens and top-p keeps more tokens.
    base = [0.7, 0.2, 0.06, 0.04]
    cold = probs(base, Decoding(0.5, 0, 0.9))
    hot = probs(base, Decoding(2.0, 0, 0.9))
    assert sum(x > 0 for x in cold) < sum(x > 0 for x in hot)
    # Top-p acts inside the top-k survivors (renormalised): k=2 then p=0.9 of {0.7, 0.2}.
    out = probs(base, Decoding(1.0, 2, 0.75))
    assert out == [1.0, 0.0, 0.0, 0.0]  # 0.7/0.9 = 0.778 >= 0.75 already


def test_greedy_below_threshold_takes_first_argmax() -> None:
    assert probs([0.2, 0.4, 0.4], Decoding(0.0)) == [0.0, 1.0, 0.0]
    assert probs([0.2, 0.4, 0.4], Decoding(1e-6)) == [0.0, 1.0, 0.0]


def test_chain_composes_temperatures_without_truncation() -> None:
    logits = torch.randn(5, 11, generator=torch.Generator().manual_seed(0))
    composed = chain_logprobs(logits, [Decoding(1.6), Decoding(0.7)])
    direct = chain_logprobs(logits, [Decoding(1.6 * 0.7)])
    assert torch.allclose(composed, direct, atol=1e-10)


def test_chain_is_ideal_student_then_eval_decoding() -> None:
    p = torch.tensor([0.5, 0.3, 0.15, 0.05]).log()
    train = Decoding(1.0, 0, 0.8)  # keeps {0.5, 0.3}
    out = chain_logprobs(p, [train, Decoding(2.0)]).exp()
    q = torch.tensor([0.5, 0.3]) / 0.8
    hot = q**0.5 / (q**0.5).sum()
    assert torch.allclose(out[:2], hot.double(), atol=1e-12)
    assert out[2:].sum() == 0  # truncated at training time: never comes back at any T_eval


def test_rows_sum_to_one_on_random_logits() -> None:
    logits = torch.randn(64, 50, generator=torch.Generator().manual_seed(1))
    out = warp(logits, Decoding(1.3, 7, 0.6)).exp().sum(-1)
    assert torch.allclose(out, torch.ones(64, dtype=torch.float64))


def test_sampled_frequencies_match_probabilities() -> None:
    lp = warp(torch.tensor([0.5, 0.3, 0.15, 0.05]).log(), Decoding(1.2, 3, 0.9))
    n = 40_000
    draws = sample_from_logprobs(lp.expand(n, -1), torch.Generator().manual_seed(0))
    freq = torch.bincount(draws, minlength=4).double() / n
    p = lp.exp()
    # 5 standard errors of a binomial proportion: fails by chance with probability < 1e-5.
    tol = 5 * torch.sqrt(p * (1 - p) / n) + 1e-12
    assert torch.all((freq - p).abs() <= tol), (freq, p)
    assert freq[p == 0].sum() == 0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"temperature": -0.1}, "temperature"),
        ({"temperature": 1.0, "top_p": 0.0}, "top_p"),
        ({"temperature": 1.0, "top_p": 1.5}, "top_p"),
        ({"temperature": 1.0, "top_k": -2}, "top_k"),
    ],
)
def test_invalid_decoding_is_rejected(kwargs: dict[str, float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Decoding(**kwargs)  # type: ignore[arg-type]


def test_top_k_larger_than_vocab_is_off() -> None:
    out = probs([0.25, 0.25, 0.5], Decoding(1.0, 10))
    assert math.isclose(sum(out), 1.0, abs_tol=1e-6) and min(out) > 0
