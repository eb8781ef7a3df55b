"""Training stage: fine-tune the base model on its own samples, raw unless told to verify.

Only the filters set in ``training.filter`` drop anything (empty responses, one-line stubs, the
shortest percent by characters, and with ``verify`` every sample that failed its prompt's tests,
graded beforehand by ``ssd.verify``). The counts of what each filter dropped, and how many kept
samples hold no extractable code, go into the manifest.
Test: ``pytest tests/test_training.py``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ssd.backends.base import Backend
from ssd.config import FilterConfig, TrainingConfig
from ssd.records import Sample

log = logging.getLogger(__name__)


def is_stub(text: str) -> bool:
    """A response of at most one non-empty line (the paper's 'one-line stub')."""
    return sum(1 for line in text.splitlines() if line.strip()) <= 1


def filter_samples(
    samples: Sequence[Sample], rules: FilterConfig, count_code: bool = True
) -> tuple[list[Sample], dict[str, int]]:
    """Apply the filters in order: empty, stub, shortest percent; return kept samples, counts."""
    kept = list(samples)
    counts = {"input": len(kept)}
    if rules.drop_empty:
        before = len(kept)
        kept = [s for s in kept if s.completion.strip() and s.token_ids]
        counts["dropped_empty"] = before - len(kept)
    if rules.drop_stubs:
        before = len(kept)
        kept = [s for s in kept if not is_stub(s.completion)]
        counts["dropped_stubs"] = before - len(kept)
    if rules.drop_shortest_percent > 0 and kept:
        lengths = np.array([len(s.completion) for s in kept])
        cut = np.percentile(lengths, rules.drop_shortest_percent)
        before = len(kept)
        kept = [s for s in kept if len(s.completion) > cut]
        counts["dropped_shortest"] = before - len(kept)
    counts["kept"] = len(kept)
    if count_code:
        from ssd.evaluation.extract import extract_code

        counts["no_code"] = sum(1 for s in kept if not extract_code(s.completion))
    return kept, counts


def select_samples(
    samples: Sequence[Sample],
    rules: FilterConfig,
    count_code: bool = True,
    passed: set[str] | None = None,
    target: int | None = None,
) -> tuple[list[Sample], dict[str, int]]:
    """``filter_samples``, then (with ``passed``) drop the samples that failed verification, then
    (with ``target``) keep the first ``target`` by sample index, prompt order inside an index
    (equal compute: as many training samples as the raw set, spread over the prompts)."""
    kept, counts = filter_samples(samples, rules, count_code=False)
    if passed is not None:
        before = len(kept)
        kept = [s for s in kept if f"{s.prompt_id}#{s.sample_index}" in passed]
        counts["dropped_unverified"] = before - len(kept)
    if target is not None:
        order = {s.prompt_id: i for i, s in reversed(list(enumerate(samples)))}
        kept.sort(key=lambda s: (s.sample_index, order[s.prompt_id]))
        counts["dropped_over_target"] = max(0, len(kept) - target)
        kept = kept[:target]
        counts["target"] = target
    counts["kept"] = len(kept)
    if count_code:
        from ssd.evaluation.extract import extract_code

        counts["no_code"] = sum(1 for s in kept if not extract_code(s.completion))
    return kept, counts


def train(
    backend: Backend,
    samples: Sequence[Sample],
    training: TrainingConfig,
    out_dir: Path,
    count_code: bool = True,
    passed: set[str] | None = None,
    target: int | None = None,
) -> dict[str, Any]:
    """Filter the samples and fit the student ``training.method`` names; it goes to ``out_dir``.

    Args:
        passed: keys (``prompt_id#sample_index``) of verified samples; None: no verification.
        target: keep at most this many (equal compute); None: all that pass.

    Returns:
        The backend's training metrics plus the filter counts under ``filter``.
    """
    kept, counts = select_samples(samples, training.filter, count_code, passed, target)
    log.info("training on %d of %d samples (%s)", len(kept), len(samples), counts)
    if not kept:
        raise RuntimeError(f"every sample was filtered out ({counts}); nothing to train on")
    if training.method == "sgd":  # the toy's logit table (training.sgd)
        fit = getattr(backend, "fit_logit_table", None)
        if fit is None:
            raise ValueError("training.method='sgd' is invalid: expected sft for HF models")
        metrics = fit(kept, training.sgd, out_dir)
    elif training.method == "sft":  # TRL SFT of an HF model (ssd.backends.sft)
        metrics = backend.train(kept, training, out_dir)
    else:
        raise ValueError(f"training.method={training.method!r} trains nothing: expected sgd or sft")
    return {**metrics, "filter": counts}
