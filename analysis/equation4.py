"""Equation 4 measured: the SSD loss at one context split into its three terms plus a constant.

For base logits p0, student logits p_theta and the training decoding (T, top-k, top-p):
``CE(q, p_theta) = -log KeptMass + (1 - T) H_{1/T}(pi) + T KL(q || Temper_T[pi]) + T H(q)``,
pi = p_theta restricted to S and renormalised, S and q from ``ssd.decoding.warp``. Also the Eq. 30
entropy split ``H(p) = h2(K) + K H(p|S) + (1 - K) H(tail)``. Float64 throughout.
Test: ``pytest tests/test_equation4.py``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ssd.decoding import Decoding, warp

TERMS = ("compression", "reshaping", "alignment", "constant")


def _entropy(logp: torch.Tensor) -> torch.Tensor:
    """Shannon entropy in nats; ``-inf`` entries (probability 0) contribute 0."""
    p = logp.exp()
    return -torch.where(p > 0, p * logp, torch.zeros_like(p)).sum(-1)


def retained_set(base_logits: torch.Tensor, decoding: Decoding) -> torch.Tensor:
    """Boolean mask of S = top-p(top-k(Temper_T(p0))): where ``warp`` is finite."""
    return torch.isfinite(warp(base_logits, decoding))


def equation4_terms(
    base_logits: torch.Tensor, student_logits: torch.Tensor, decoding: Decoding
) -> dict[str, torch.Tensor]:
    """The terms of Equation 4 at every position.

    Args:
        base_logits: [..., vocab] logits (or log-probabilities) of the frozen base model p0.
        student_logits: [..., vocab] logits of the student p_theta on the same contexts.
        decoding: the training decoding (T_train, top-k, top-p); T must be above greedy.

    Returns:
        Tensors of shape [...]: ``compression`` (-log KeptMass), ``reshaping``
        ((1 - T) H_{1/T}(pi) = -T log sum_S pi^{1/T}), ``alignment`` (T KL(q || Temper_T[pi])),
        ``constant`` (T H(q)), ``total`` (their sum), ``cross_entropy`` (CE(q, p_theta)
        computed directly) and ``kept_mass``.
    """
    if decoding.greedy:
        raise ValueError(
            f"Equation 4 needs temperature > 0 (not greedy), got {decoding.temperature}"
        )
    if base_logits.shape != student_logits.shape:
        raise ValueError(f"shapes differ: {base_logits.shape} vs {student_logits.shape}")
    t = decoding.temperature
    log_q = warp(base_logits, decoding)  # log q, -inf outside S
    support = torch.isfinite(log_q)
    log_p = torch.log_softmax(student_logits.to(torch.float64), dim=-1)
    neg_inf = torch.full_like(log_p, float("-inf"))
    log_p_s = torch.where(support, log_p, neg_inf)
    log_kept = torch.logsumexp(log_p_s, dim=-1)
    log_pi = log_p_s - log_kept.unsqueeze(-1)  # p_theta(.|S)
    log_z = torch.logsumexp(log_pi / t, dim=-1)  # log sum_S pi^{1/T}
    log_tempered = log_pi / t - log_z.unsqueeze(-1)  # Temper_T[pi]
    q = log_q.exp()
    kl = torch.where(q > 0, q * (log_q - log_tempered), torch.zeros_like(q)).sum(-1)
    terms = {
        "compression": -log_kept,
        "reshaping": -t * log_z,
        "alignment": t * kl,
        "constant": t * _entropy(log_q),
    }
    terms["total"] = sum(terms[name] for name in TERMS)
    cross = torch.where(q > 0, -q * log_p, torch.zeros_like(q)).sum(-1)
    terms["cross_entropy"] = cross
    terms["kept_mass"] = log_kept.exp()
    return terms


def entropy_split(logits: torch.Tensor, support: torch.Tensor) -> dict[str, torch.Tensor]:
    """Eq. 30: ``H(p) = h2(K) + K H(p|S) + (1 - K) H(p|tail)`` for a model p and set S.

    Args:
        logits: [..., vocab] logits of the model whose entropy is split (the student).
        support: boolean mask of S with the same shape (e.g. ``retained_set`` of the base).

    Returns:
        ``gate`` h2(K), ``head`` K H(p|S), ``tail`` (1 - K) H(p|not S), ``entropy`` H(p) and
        ``kept_mass`` K, each of shape [...].
    """
    log_p = torch.log_softmax(logits.to(torch.float64), dim=-1)
    neg_inf = torch.full_like(log_p, float("-inf"))
    log_head = torch.where(support, log_p, neg_inf)
    log_tail = torch.where(support, neg_inf, log_p)
    log_k = torch.logsumexp(log_head, dim=-1)
    log_1mk = torch.logsumexp(log_tail, dim=-1)
    k = log_k.exp()

    def conditional_entropy(log_part: torch.Tensor, log_mass: torch.Tensor) -> torch.Tensor:
        # A part with no mass has no conditional distribution; its weighted term is 0.
        safe = torch.where(torch.isfinite(log_mass), log_mass, torch.zeros_like(log_mass))
        return torch.where(
            torch.isfinite(log_mass),
            _entropy(log_part - safe.unsqueeze(-1)),
            torch.zeros_like(log_mass),
        )

    rest = log_1mk.exp()  # 1 - K, exact 0 when S holds the whole support
    zero = torch.zeros_like(k)
    gate = -(
        torch.where(torch.isfinite(log_k), k * log_k, zero)
        + torch.where(torch.isfinite(log_1mk), rest * log_1mk, zero)
    )
    return {
        "gate": gate,
        "head": k * conditional_entropy(log_head, log_k),
        "tail": rest * conditional_entropy(log_tail, log_1mk),
        "entropy": _entropy(log_p),
        "kept_mass": k,
    }


def summarise(
    base_logits: torch.Tensor,
    student_logits: torch.Tensor,
    decoding: Decoding,
    classes: np.ndarray | None = None,
) -> pd.DataFrame:
    """Mean Eq. 4 terms and Eq. 30 split per position class (and ``all``).

    Args:
        base_logits: [positions, vocab] base logits.
        student_logits: [positions, vocab] student logits on the same positions.
        decoding: training decoding.
        classes: optional label per position (e.g. from ``analysis.tokens.classify``).

    Returns:
        One row per class with the mean of every term and the number of positions.
    """
    terms = equation4_terms(base_logits, student_logits, decoding)
    split = entropy_split(student_logits, retained_set(base_logits, decoding))
    frame = pd.DataFrame({name: value.numpy() for name, value in {**terms, **split}.items()})
    frame = frame.loc[:, ~frame.columns.duplicated()]
    frame["class"] = classes if classes is not None else "all"
    table = frame.groupby("class").mean()
    table.loc["all"] = frame.drop(columns="class").mean()
    table["positions"] = frame.groupby("class").size().reindex(table.index).fillna(len(frame))
    return table.reset_index()
