"""Hydra override grammar -> Optuna distributions, and sampled values -> override strings.

End-point rule (the same for every sampler, grid included; see docs/sweeps.md):
- `choice(a, b, ...)` and `a,b,...`: exactly the listed values (CategoricalDistribution).
- `range(start, stop[, step])`: Python's half-open range, the values Hydra's basic sweeper runs
  (stop excluded); mapped to Int/FloatDistribution(low, high=last value, step).
- `interval(a, b)`: closed [a, b] (FloatDistribution); `int(interval(a, b))`: integers a..b,
  both ends included (IntDistribution); `tag(log, ...)` on either: log scale.
Tests: tests/test_sweeper.py.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import (
    ChoiceSweep,
    IntervalSweep,
    Override,
    OverrideType,
    RangeSweep,
)
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

_PARSER = OverridesParser.create()
_BACKSLASHES_BEFORE_QUOTE_OR_END = re.compile(r"(\\+)(?='|$)")
_BARE = re.compile(r"[\w./@:+-]+")  # shell- and log-friendly; anything else gets quoted


@dataclass(frozen=True)
class SearchParam:
    """One swept key: its Optuna distribution and how a sampled value becomes an override."""

    key: str  # the override key as written, with any +/++ prefix
    name: str  # the Optuna parameter name: the key without prefix
    distribution: BaseDistribution
    grid: tuple[Any, ...] | None  # every value in order (discrete forms); None: float interval
    literal: dict[str, str] = field(default_factory=dict)  # choice token -> override text

    def value(self, sampled: Any) -> Any:
        """The value a job gets: floats of a stepped range snap to Hydra's exact grid value."""
        if self.grid is not None and isinstance(sampled, float):
            return min(self.grid, key=lambda g: abs(g - sampled))
        return sampled

    def override(self, sampled: Any) -> str:
        """`key=value` for the launcher, with strings quoted where the grammar needs it."""
        if isinstance(sampled, str) and sampled in self.literal:
            return f"{self.key}={self.literal[sampled]}"
        return f"{self.key}={format_value(self.value(sampled))}"


def quote(text: str) -> str:
    """Single-quote a string for Hydra's grammar (backslashes doubled before a quote/the end)."""
    escaped = _BACKSLASHES_BEFORE_QUOTE_OR_END.sub(lambda m: m.group(1) * 2, text)
    return "'" + escaped.replace("'", "\\'") + "'"


def _reads_back_as(text: str, value: str) -> bool:
    try:
        parsed = _PARSER.parse_override(f"k={text}")
    except Exception:  # any grammar error means the bare form is unsafe
        return False
    return (
        not parsed.is_sweep_override()
        and parsed.value() == value
        and type(parsed.value()) is type(value)
    )


def format_value(value: Any) -> str:
    """Render a value in Hydra's override grammar so that it parses back to the same value.

    Strings stay bare when they are word-like and read back as the same string (`mysql`,
    `qwen3_4b`, `/a/b`), and are quoted otherwise (`'a b'`, `'1'`, `'true'`, `'x,y'`, `'it\\'s'`).
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)  # 'inf', '-inf', 'nan' and '1e-05' are all valid grammar
    if isinstance(value, str):
        bare = _BARE.fullmatch(value) and _reads_back_as(value, value)
        return value if bare else quote(value)
    if isinstance(value, Sequence):
        return "[" + ",".join(format_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return (
            "{" + ",".join(f"{format_value(k)}:{format_value(v)}" for k, v in value.items()) + "}"
        )
    raise TypeError(f"cannot write {value!r} ({type(value).__name__}) as an override value")


def param_text(value: Any) -> str:
    """The text of one `params:` entry: strings are grammar already, other YAML values are not."""
    return value if isinstance(value, str) else format_value(value)


def parse_overrides(lines: Sequence[str], parser: OverridesParser | None = None) -> list[Override]:
    """Parse override lines; a later line for the same key replaces the earlier one in place."""
    parsed = (parser or _PARSER).parse_overrides(list(lines))
    by_key: dict[str, Override] = {}
    for override in parsed:
        by_key[override.get_key_element()] = override
    return list(by_key.values())


def search_param(override: Override) -> SearchParam:
    """Map one sweep override to a `SearchParam`; ValueError naming the key if unsupported."""
    key = override.get_key_element()
    name = key.lstrip("+")
    sweep = override.value()
    if override.type == OverrideType.DEL:
        raise ValueError(f"'{override.input_line}': a deletion (~key) cannot be swept")
    if not isinstance(sweep, ChoiceSweep | RangeSweep | IntervalSweep):
        raise ValueError(f"'{key}': {sweep!r} is not a sweep")
    unknown = set(sweep.tags) - {"log"}
    if unknown:
        raise ValueError(f"'{key}': unknown tag(s) {sorted(unknown)}; the sweeper knows only 'log'")
    log = "log" in sweep.tags
    if isinstance(sweep, ChoiceSweep):
        if log:
            raise ValueError(f"'{key}': tag(log, ...) needs interval(...), not choice(...)")
        return _choice(key, name, list(sweep.list))
    if isinstance(sweep, RangeSweep):
        if log:
            raise ValueError(f"'{key}': tag(log, ...) needs interval(...); range(...) has a step")
        return _range(key, name, sweep)
    return _interval(key, name, sweep, log)


def _choice(key: str, name: str, values: list[Any]) -> SearchParam:
    if not values:
        raise ValueError(f"'{key}': choice() needs at least one value")
    scalar = (str, int, float, bool)
    literal: dict[str, str] = {}
    choices: list[Any] = []
    for v in values:
        if isinstance(v, scalar):
            choices.append(v)
        else:  # lists/dicts: Optuna stores their override text, the job gets the structure back
            text = format_value(v)
            literal[text] = text
            choices.append(text)
    return SearchParam(key, name, CategoricalDistribution(choices), tuple(choices), literal)


def _range(key: str, name: str, sweep: RangeSweep) -> SearchParam:
    values = list(sweep.range())
    if not values:
        raise ValueError(
            f"'{key}': range({sweep.start}, {sweep.stop}, {sweep.step}) is empty "
            "(stop is excluded, as in Python)"
        )
    if not all(isinstance(v, int) for v in (*values, sweep.step)):
        # Decimal steps, so that range(0.2, 1.65, 0.1) gives 0.3, not 0.30000000000000004.
        first, delta = Decimal(str(sweep.start)), Decimal(str(sweep.step))
        values = [float(first + i * delta) for i in range(len(values))]
    low, high, step = min(values), max(values), abs(sweep.step)
    if isinstance(low, int):
        dist: BaseDistribution = IntDistribution(low, int(high), step=int(step))
    else:
        dist = FloatDistribution(float(low), float(high), step=float(step))
    return SearchParam(key, name, dist, tuple(values))


def _interval(key: str, name: str, sweep: IntervalSweep, log: bool) -> SearchParam:
    start, end = sweep.start, sweep.end
    assert start is not None and end is not None
    if not start < end:
        raise ValueError(f"'{key}': interval({start}, {end}) needs start < end")
    if log and start <= 0:
        raise ValueError(f"'{key}': tag(log, interval({start}, {end})) needs start > 0")
    if isinstance(start, int) and isinstance(end, int):
        grid = tuple(range(start, end + 1))
        return SearchParam(key, name, IntDistribution(start, end, log=log), grid)
    return SearchParam(key, name, FloatDistribution(float(start), float(end), log=log), None)
