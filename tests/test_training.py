"""Training stage filters: only empty responses, one-line stubs and the shortest percent go."""

from __future__ import annotations

from ssd.config import FilterConfig
from ssd.records import Sample
from ssd.training import filter_samples, is_stub


def make(text: str, i: int) -> Sample:
    return Sample(
        f"p{i}", 0, "prompt", [1], text, [5] * max(len(text), 1) if text else [], "stop", []
    )


TEXTS = [
    "",
    "   ",
    "return 1",
    "```python\nprint(1)\n```",
    "def f(x):\n    return x\n",
    "a\nb\nc\nd\ne\nf\ng",
    "some words\nand no code fence at all",
]


def test_is_stub_counts_non_empty_lines() -> None:
    assert is_stub("x = 1") and is_stub("\n\nx = 1\n\n") and not is_stub("x = 1\ny = 2")


def test_filters_report_what_each_dropped() -> None:
    samples = [make(t, i) for i, t in enumerate(TEXTS)]
    kept, counts = filter_samples(samples, FilterConfig(True, True, 0.0), count_code=False)
    assert counts == {"input": 7, "dropped_empty": 2, "dropped_stubs": 1, "kept": 4}
    assert [s.completion for s in kept] == TEXTS[3:]


def test_no_filtering_keeps_everything() -> None:
    samples = [make(t, i) for i, t in enumerate(TEXTS)]
    kept, counts = filter_samples(samples, FilterConfig(False, False, 0.0), count_code=False)
    assert len(kept) == 7 and counts == {"input": 7, "kept": 7}


def test_shortest_percent_drops_by_characters() -> None:
    samples = [make("line\n" * (i + 2), i) for i in range(10)]
    kept, counts = filter_samples(samples, FilterConfig(True, True, 10.0), count_code=False)
    assert counts["dropped_shortest"] == 1
    assert min(len(s.completion) for s in kept) == len("line\n" * 3)
