"""Synthetic list-processing problems: spec in words, starter signature, hidden tests, solutions.

A problem asks for ``f(xs)`` combining two or three *clauses* (``sum of squared items at least
3 plus count of odd items``). A clause is an aggregate (sum, count, max) of a transform of the
items that pass a filter; its constant is copied from the spec (a lock). Each clause can be
written in several genuinely different styles (one-liner, loop with an accumulator, list then
aggregate) with different names, so the first token of a clause is a fork. The *family* of a
problem is its clause structure without constants; families are split disjointly into
pretraining, SSD-prompt and evaluation sets.

Run the tests: ``pytest tests/test_tinyworld.py``.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

AGGS = ("sum", "count", "max")
TRANSFORMS = ("id", "sq", "dbl", "inc")  # inc: plus a constant
FILTERS = ("all", "gt", "lt", "ge", "le", "even", "odd", "div")
COMBINERS = {"plus": "+", "minus": "-", "times": "*"}
# Filters whose popular one-liner idiom uses the strict comparison (the off-by-one trap).
TRAP_FILTERS = {"ge": ">", "le": "<"}
SPLITS = ("pretrain", "ssd_prompt", "eval")
SPLIT_SHARES = (0.7, 0.15, 0.15)

ONE_NAMES = ("a", "b", "c")  # one-liner style: one fixed name per clause slot (a single-token mode)
LOOP_NAMES = ("total", "acc", "res", "out", "tmp", "cur")
LIST_NAMES = ("vals", "ys", "kept", "picked")
ITEM_NAMES = ("x", "v", "item")


@dataclass(frozen=True)
class Clause:
    agg: str
    transform: str
    filt: str
    tconst: int = 0  # constant of the transform (inc)
    fconst: int = 0  # constant of the filter (gt, lt, ge, le, div)

    @property
    def shape(self) -> tuple[str, str, str]:
        return (self.agg, self.transform, self.filt)

    @property
    def is_trap(self) -> bool:
        """The one-liner idiom is wrong here: off-by-one comparison, or max without a default."""
        return self.filt in TRAP_FILTERS or self.agg == "max"

    def words(self) -> str:
        t = {"id": "", "sq": "squared ", "dbl": "doubled ", "inc": f"shifted by {self.tconst} "}
        f = {
            "all": "",
            "gt": f" greater than {self.fconst}",
            "lt": f" less than {self.fconst}",
            "ge": f" at least {self.fconst}",
            "le": f" at most {self.fconst}",
            "even": " that are even",
            "odd": " that are odd",
            "div": f" divisible by {self.fconst}",
        }
        return f"{self.agg} of {t[self.transform]}items{f[self.filt]}"

    def value(self, xs: list[int]) -> int:
        """Ground truth (max of nothing is 0)."""
        vals = [self._expr(x) for x in xs if self._keep(x)]
        if self.agg == "sum":
            return sum(vals)
        if self.agg == "count":
            return len(vals)
        return max(vals, default=0)

    def _keep(self, x: int) -> bool:
        c = self.fconst
        return {
            "all": True,
            "gt": x > c,
            "lt": x < c,
            "ge": x >= c,
            "le": x <= c,
            "even": x % 2 == 0,
            "odd": x % 2 == 1,
            "div": x % c == 0 if c else False,
        }[self.filt]

    def _expr(self, x: int) -> int:
        return {"id": x, "sq": x * x, "dbl": 2 * x, "inc": x + self.tconst}[self.transform]


@dataclass(frozen=True)
class Task:
    clauses: tuple[Clause, ...]
    combiners: tuple[str, ...]  # words, len(clauses) - 1

    @property
    def family(self) -> str:
        parts = ["-".join(c.shape) for c in self.clauses]
        return "|".join(
            p + (f"|{w}" if i < len(self.combiners) else "")
            for i, (p, w) in enumerate(zip(parts, [*self.combiners, ""], strict=True))
        )

    @property
    def n_traps(self) -> int:
        return sum(c.is_trap for c in self.clauses)

    def spec(self) -> str:
        out = self.clauses[0].words()
        for word, clause in zip(self.combiners, self.clauses[1:], strict=True):
            out += f" {word} {clause.words()}"
        return f"return {out}"

    def starter(self) -> str:
        return f'def f(xs):\n    """{self.spec()}"""\n'

    def value(self, xs: list[int]) -> int:
        total = self.clauses[0].value(xs)
        for word, clause in zip(self.combiners, self.clauses[1:], strict=True):
            v = clause.value(xs)
            total = total + v if word == "plus" else total - v if word == "minus" else total * v
        return total


def family_split(family: str) -> str:
    """Deterministic disjoint split of families by hash (70 / 15 / 15)."""
    h = int(hashlib.sha256(family.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    if h < SPLIT_SHARES[0]:
        return SPLITS[0]
    return SPLITS[1] if h < SPLIT_SHARES[0] + SPLIT_SHARES[1] else SPLITS[2]


def _clause(rng: random.Random) -> Clause:
    agg = rng.choice(AGGS)
    transform = "id" if agg == "count" else rng.choice(TRANSFORMS)
    filt = rng.choice(FILTERS)
    tconst = rng.randint(1, 9) if transform == "inc" else 0
    fconst = (
        rng.randint(2, 5)
        if filt == "div"
        else rng.randint(1, 9)
        if filt in ("gt", "lt", "ge", "le")
        else 0
    )
    return Clause(agg, transform, filt, tconst, fconst)


def random_task(rng: random.Random) -> Task:
    n = rng.choice((2, 2, 3))
    clauses = tuple(_clause(rng) for _ in range(n))
    combiners = tuple(rng.choice(("plus", "minus")) for _ in range(n - 1))
    return Task(clauses, combiners)


def generate_tasks(split: str, n: int, seed: int) -> list[Task]:
    """``n`` distinct tasks whose family belongs to ``split`` (rejection sampling, seeded)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    rng = random.Random(f"{split}:{seed}")
    out: list[Task] = []
    seen: set[Task] = set()
    tries = 0
    while len(out) < n:
        tries += 1
        if tries > 200 * n + 10_000:
            raise RuntimeError(f"could not draw {n} distinct {split} tasks")
        task = random_task(rng)
        if task in seen or family_split(task.family) != split:
            continue
        seen.add(task)
        out.append(task)
    return out


# ---- solutions in several styles -------------------------------------------------------------


@dataclass(frozen=True)
class Style:
    kind: str  # one | loop | list
    name: str
    item: str
    augmented: bool = True  # loop: `n += e` vs `n = n + e`


def _cond(clause: Clause, v: str, wrong: bool) -> str:
    c = clause.fconst
    op = {"gt": ">", "lt": "<", "ge": ">=", "le": "<="}
    if clause.filt in op:
        o = TRAP_FILTERS[clause.filt] if wrong and clause.filt in TRAP_FILTERS else op[clause.filt]
        return f"{v} {o} {c}"
    if clause.filt == "even":
        return f"{v} % 2 == 0"
    if clause.filt == "odd":
        return f"{v} % 2 == 1"
    if clause.filt == "div":
        return f"{v} % {c} == 0"
    return ""


def _expr(clause: Clause, v: str) -> str:
    return {"id": v, "sq": f"{v} * {v}", "dbl": f"2 * {v}", "inc": f"{v} + {clause.tconst}"}[
        clause.transform
    ]


def clause_code(clause: Clause, style: Style, *, trap_idiom: bool = True) -> list[str]:
    """Lines (4-space indented) computing the clause into ``style.name``.

    ``trap_idiom``: the one-liner style writes the popular wrong idiom on trap clauses.
    """
    v, n = style.item, style.name
    wrong = trap_idiom and style.kind == "one"
    cond = _cond(clause, v, wrong)
    e = "1" if clause.agg == "count" else _expr(clause, v)
    if_part = f" if {cond}" if cond else ""
    if style.kind == "one":
        if clause.agg == "count":
            return [f"    {n} = len([{v} for {v} in xs{if_part}])"]
        if clause.agg == "max" and not wrong:
            return [f"    {n} = max([{_expr(clause, v)} for {v} in xs{if_part}], default=0)"]
        # max without a default is the popular idiom; it crashes when nothing passes the filter.
        return [f"    {n} = {clause.agg}({_expr(clause, v)} for {v} in xs{if_part})"]
    if style.kind == "list":
        lines = [f"    {n} = [{e if clause.agg != 'count' else v} for {v} in xs{if_part}]"]
        final = {"sum": f"sum({n})", "count": f"len({n})", "max": f"max({n} + [0])"}[clause.agg]
        return [*lines, f"    {n} = {final}"]
    lines = [f"    {n} = 0", f"    for {v} in xs:"]
    ind = "        "
    if cond:
        lines.append(f"{ind}if {cond}:")
        ind += "    "
    if clause.agg == "max":
        lines += [f"{ind}if {e} > {n}:", f"{ind}    {n} = {e}"]
    elif style.augmented:
        lines.append(f"{ind}{n} += {e}")
    else:
        lines.append(f"{ind}{n} = {n} + {e}")
    return lines


def solution(task: Task, styles: list[Style], *, trap_idiom: bool = True) -> str:
    """The function body (completion after the starter) for one style per clause."""
    lines: list[str] = []
    for clause, style in zip(task.clauses, styles, strict=True):
        lines += clause_code(clause, style, trap_idiom=trap_idiom)
    ret = styles[0].name
    for word, style in zip(task.combiners, styles[1:], strict=True):
        ret += f" {COMBINERS[word]} {style.name}"
    lines.append(f"    return {ret}")
    return "\n".join(lines) + "\n"


def random_styles(task: Task, rng: random.Random, p_one: float, p_loop: float) -> list[Style]:
    """One style per clause: one-liner (p_one), loop (p_loop, names spread) or list (the rest).

    Names are distinct across clauses, so later copies of a name are locks.
    """
    used: set[str] = set()
    out = []
    pool: tuple[str, ...]
    for i, _ in enumerate(task.clauses):
        r = rng.random()
        if r < p_one:
            kind, pool = "one", (ONE_NAMES[i],)
        elif r < p_one + p_loop:
            kind, pool = "loop", LOOP_NAMES
        else:
            kind, pool = "list", LIST_NAMES
        name = rng.choice([p for p in pool if p not in used])
        used.add(name)
        out.append(Style(kind, name, rng.choice(ITEM_NAMES), rng.random() < 0.6))
    return out


def reference_solutions(task: Task) -> list[str]:
    """Correct solutions in genuinely different styles (all one-liners, all loops, all lists)."""
    out = []
    for k, (kind, pool) in enumerate((("one", None), ("loop", LOOP_NAMES), ("list", LIST_NAMES))):
        styles = [
            Style(kind, ONE_NAMES[i] if pool is None else pool[i], ITEM_NAMES[(i + k) % 3], k == 1)
            for i in range(len(task.clauses))
        ]
        out.append(solution(task, styles, trap_idiom=False))
    return out


# ---- hidden tests -----------------------------------------------------------------------------


def test_inputs(task: Task, rng: random.Random, n: int = 8) -> list[list[int]]:
    """Random lists plus edge cases: empty, boundary values at each constant, nothing passing."""
    cases: list[list[int]] = [[]]
    for clause in task.clauses:
        if clause.filt in ("ge", "le", "gt", "lt"):
            c = clause.fconst
            cases.append([c, c, rng.randint(0, 12)])
        if clause.agg == "max":
            # Inputs where the filter keeps nothing (the default matters).
            cases.append([x for x in (1, 3, 5, 7, 9, 11, 2, 4, 6) if not clause._keep(x)][:3])
    while len(cases) < n:
        cases.append([rng.randint(0, 12) for _ in range(rng.randint(1, 7))])
    return cases


def test_code(task: Task, seed: int = 0) -> str:
    rng = random.Random(f"tests:{seed}:{task}")
    lines = ["def check(candidate):"]
    for xs in test_inputs(task, rng):
        lines.append(f"    assert candidate({xs!r}) == {task.value(xs)!r}")
    return "\n".join(lines) + "\n"
