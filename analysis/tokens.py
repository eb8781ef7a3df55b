"""Token-level analysis of a base model and its SSD model on the same generations.

Per position: entropy, top-1 probability, the support kept by a decoding, KeptMass; the paper's
four panels (cumulative mass by rank, tokens surviving truncation vs T_eval, entropy after
truncation vs T_eval, the same binned by top-20 mass); the lock/fork classification (rule in
``LockForkRule``) and how SSD moved positions between classes. Input is any pair of
[positions, vocab] logits tensors; ``analysis.token_sources`` builds them for the toy model, a
tiny HF model and HF checkpoints. Test: ``pytest tests/test_tokens.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from ssd.decoding import Decoding, warp  # noqa: E402
from ssd.figures import save_figure  # noqa: E402

T_EVALS = (0.4, 0.7, 1.0, 1.4, 2.0)  # the paper's panel (b)-(d) temperatures
# The paper's instruct-model evaluation truncation (T_eval itself varies per panel).
PAPER_EVAL = Decoding(1.0, 20, 0.8)
CERTAIN, LOCK, FORK, DIFFUSE = "certain", "lock", "fork", "diffuse"
CLASSES = (CERTAIN, LOCK, FORK, DIFFUSE)
# Panel (d) bins of the reference model's top-20 mass: [0, 0.9), [0.9, 0.99), [0.99, 1].
MASS_BINS = (0.0, 0.9, 0.99, 1.0)


@dataclass(frozen=True)
class LockForkRule:
    """Classify a position by the base model's untempered, untruncated distribution.

    Checked in this order, with p1 >= p2 the two largest probabilities:
    ``certain`` p1 >= certain_top1 (no tail worth suppressing, no alternative);
    ``fork`` p2 >= fork_second (a second continuation holds real mass);
    ``lock`` p1 >= lock_top1 (one clear winner, the rest a diffuse tail);
    ``diffuse`` otherwise (no winner and no clear runner-up).
    """

    certain_top1: float = 0.99
    lock_top1: float = 0.5
    fork_second: float = 0.1

    def __post_init__(self) -> None:
        if not 0 < self.lock_top1 < self.certain_top1 <= 1:
            raise ValueError(
                "need 0 < lock_top1 < certain_top1 <= 1, got "
                f"lock_top1={self.lock_top1}, certain_top1={self.certain_top1}"
            )
        if not 0 < self.fork_second <= 0.5:
            raise ValueError(f"fork_second must be in (0, 0.5], got {self.fork_second}")


def classify(logits: torch.Tensor, rule: LockForkRule = LockForkRule()) -> np.ndarray:
    """Class name per position of [positions, vocab] logits under ``rule``."""
    probs = torch.softmax(logits.to(torch.float64), dim=-1)
    top = torch.topk(probs, k=min(2, probs.shape[-1]), dim=-1).values.numpy()
    p1 = top[:, 0]
    p2 = top[:, 1] if top.shape[1] > 1 else np.zeros_like(p1)
    return np.select(
        [p1 >= rule.certain_top1, p2 >= rule.fork_second, p1 >= rule.lock_top1],
        [CERTAIN, FORK, LOCK],
        default=DIFFUSE,
    )


def _entropy(logp: torch.Tensor) -> torch.Tensor:
    p = logp.exp()
    return -torch.where(p > 0, p * logp, torch.zeros_like(p)).sum(-1)


def position_stats(logits: torch.Tensor, decoding: Decoding) -> pd.DataFrame:
    """Per-position statistics of one model under one decoding.

    Args:
        logits: [positions, vocab] logits.
        decoding: the decoding whose retained set is measured.

    Returns:
        Columns ``entropy``, ``top1``, ``top20_mass`` (of the untempered model), ``support``
        (tokens kept by ``decoding``), ``kept_mass`` (untempered mass on them) and
        ``entropy_after`` (entropy of the decoded distribution).
    """
    log_p = torch.log_softmax(logits.to(torch.float64), dim=-1)
    decoded = warp(log_p, decoding)
    kept = torch.isfinite(decoded)
    probs = log_p.exp()
    top20 = torch.topk(probs, k=min(20, probs.shape[-1]), dim=-1).values.sum(-1)
    return pd.DataFrame(
        {
            "entropy": _entropy(log_p).numpy(),
            "top1": probs.max(-1).values.numpy(),
            "top20_mass": top20.numpy(),
            "support": kept.sum(-1).numpy(),
            "kept_mass": torch.where(kept, probs, torch.zeros_like(probs)).sum(-1).numpy(),
            "entropy_after": _entropy(decoded).numpy(),
        }
    )


def cumulative_mass(logits: torch.Tensor, ranks: int = 60) -> np.ndarray:
    """Average cumulative probability of the top 1..ranks tokens (panel a)."""
    probs = torch.softmax(logits.to(torch.float64), dim=-1)
    ranked = torch.sort(probs, dim=-1, descending=True).values[:, :ranks]
    return torch.cumsum(ranked, dim=-1).mean(0).numpy()


def _mass_bin(mass: pd.Series, edges: Sequence[float]) -> np.ndarray:
    """Bin label per position, e.g. ``[0.9, 0.99)``; the top edge belongs to the last bin."""
    edges = list(edges)
    if len(edges) < 2 or any(b <= a for a, b in zip(edges[:-1], edges[1:], strict=True)):
        raise ValueError(f"mass_bins must be increasing with at least two edges, got {edges}")
    index = np.clip(np.searchsorted(edges, mass.to_numpy(), side="right") - 1, 0, len(edges) - 2)
    labels = [f"[{a:g}, {b:g})" for a, b in zip(edges[:-2], edges[1:-1], strict=True)]
    labels.append(f"[{edges[-2]:g}, {edges[-1]:g}]")
    return np.array(labels)[index]


def panels(
    models: dict[str, torch.Tensor],
    *,
    eval_top_k: int = 20,
    eval_top_p: float = 0.8,
    t_evals: Sequence[float] = T_EVALS,
    ranks: int = 60,
    bin_by: str | None = None,
    mass_bins: Sequence[float] = MASS_BINS,
) -> dict[str, pd.DataFrame]:
    """The numbers behind the four panels for each model on the same positions.

    Args:
        models: name -> [positions, vocab] logits (e.g. ``{"base": ..., "ssd": ...}``).
        eval_top_k: evaluation top-k used for panels (b)-(d) (0: off).
        eval_top_p: evaluation top-p used for panels (b)-(d) (1.0: off).
        t_evals: evaluation temperatures.
        ranks: ranks shown in panel (a).
        bin_by: model whose top-20 mass defines the panel (d) bins (default: the first).
        mass_bins: increasing bin edges of top-20 mass (left-closed; the last bin is closed).

    Returns:
        ``cumulative_mass`` (rank x model), ``survivors`` and ``entropy_after``
        (T_eval x model), ``binned`` (one row per model, bin and T_eval).
    """
    names = list(models)
    reference = models[bin_by or names[0]]
    bin_of = _mass_bin(position_stats(reference, Decoding(1.0))["top20_mass"], mass_bins)
    cum = {name: cumulative_mass(logits, ranks) for name, logits in models.items()}
    n_ranks = min(len(v) for v in cum.values())
    cumulative = pd.DataFrame({"rank": np.arange(1, n_ranks + 1)})
    survivors = pd.DataFrame({"t_eval": list(t_evals)})
    entropy_after = pd.DataFrame({"t_eval": list(t_evals)})
    binned_rows = []
    for name, logits in models.items():
        cumulative[name] = cum[name][:n_ranks]
        counts, entropies = [], []
        for t in t_evals:
            stats = position_stats(logits, Decoding(t, eval_top_k, eval_top_p))
            counts.append(stats["support"].mean())
            entropies.append(stats["entropy_after"].mean())
            for label, group in stats.groupby(bin_of):
                binned_rows.append(
                    {
                        "model": name,
                        "top20_bin": label,
                        "t_eval": t,
                        "positions": len(group),
                        "survivors": group["support"].mean(),
                        "entropy_after": group["entropy_after"].mean(),
                    }
                )
        survivors[name] = counts
        entropy_after[name] = entropies
    return {
        "cumulative_mass": cumulative,
        "survivors": survivors,
        "entropy_after": entropy_after,
        "binned": pd.DataFrame(binned_rows),
    }


def plot_panels(data: dict[str, pd.DataFrame], path: Path, title: str) -> Path:
    """Draw the four panels (a)-(d) into one PNG."""
    fig, axes = plt.subplots(1, 4, figsize=(20, 4.2))
    names = [c for c in data["survivors"].columns if c != "t_eval"]
    styles = {name: ("-" if i == 0 else "--") for i, name in enumerate(names)}
    for name in names:
        axes[0].plot(
            data["cumulative_mass"]["rank"], data["cumulative_mass"][name], styles[name], label=name
        )
        axes[1].plot(
            data["survivors"]["t_eval"],
            data["survivors"][name],
            styles[name],
            marker="o",
            label=name,
        )
        axes[2].plot(
            data["entropy_after"]["t_eval"],
            data["entropy_after"][name],
            styles[name],
            marker="o",
            label=name,
        )
    binned = data["binned"]
    for i, label in enumerate(sorted(binned["top20_bin"].unique())):
        for name in names:
            rows = binned[(binned["top20_bin"] == label) & (binned["model"] == name)]
            axes[3].plot(
                rows["t_eval"],
                rows["entropy_after"],
                styles[name],
                marker="o",
                color=f"C{i}",
                label=f"{name} top-20 mass {label} (n={rows['positions'].iloc[0]})",
            )
    axes[0].set(xlabel="token rank", ylabel="avg cumulative mass", title="(a) mass by rank")
    axes[1].set(xlabel="T_eval", ylabel="avg tokens kept", title="(b) tokens surviving truncation")
    axes[2].set(xlabel="T_eval", ylabel="avg entropy (nats)", title="(c) entropy after truncation")
    axes[3].set(xlabel="T_eval", ylabel="avg entropy (nats)", title="(d) (c) by top-20 mass")
    for ax in axes:
        ax.legend(fontsize=7)
    fig.suptitle(title)
    return save_figure(fig, path, dpi=110)


def lock_fork_report(
    base_logits: torch.Tensor,
    ssd_logits: torch.Tensor,
    *,
    rule: LockForkRule = LockForkRule(),
    eval_decoding: Decoding = PAPER_EVAL,
) -> dict[str, pd.DataFrame]:
    """Lock/fork counts before and after SSD and what SSD did at each class of position.

    Returns:
        ``counts`` (class x {base, ssd}), ``transitions`` (base class x SSD class, positions
        classified by each model's own distribution) and ``by_class`` (per base class: mean
        top-1, entropy, tokens kept under ``eval_decoding`` and entropy after it, base vs SSD).
    """
    base_class, ssd_class = classify(base_logits, rule), classify(ssd_logits, rule)
    counts = pd.DataFrame(
        {
            "base": pd.Series(base_class).value_counts().reindex(CLASSES, fill_value=0),
            "ssd": pd.Series(ssd_class).value_counts().reindex(CLASSES, fill_value=0),
        }
    )
    transitions = pd.crosstab(
        pd.Categorical(base_class, CLASSES),
        pd.Categorical(ssd_class, CLASSES),
        rownames=["base"],
        colnames=["ssd"],
        dropna=False,
    )
    columns = ["top1", "entropy", "support", "entropy_after"]
    base_stats = position_stats(base_logits, eval_decoding)[columns].add_prefix("base_")
    ssd_stats = position_stats(ssd_logits, eval_decoding)[columns].add_prefix("ssd_")
    frame = pd.concat([base_stats, ssd_stats], axis=1)
    frame["class"] = base_class
    by_class = frame.groupby("class").mean().reindex([c for c in CLASSES if c in set(base_class)])
    by_class["positions"] = frame.groupby("class").size()
    return {"counts": counts, "transitions": transitions, "by_class": by_class}


def token_report(
    base_logits: torch.Tensor,
    ssd_logits: torch.Tensor,
    out: Path,
    *,
    title: str,
    train: Decoding,
    eval_decoding: Decoding,
    rule: LockForkRule = LockForkRule(),
) -> dict[str, object]:
    """Panels, lock/fork report and Eq. 4 by class for one base/SSD pair, written to ``out``.

    Returns:
        ``panels`` (the four panels' tables), ``lockfork`` (``lock_fork_report``),
        ``equation4`` (mean terms per base class, with the base and with the SSD model as the
        student) and ``figure`` (the PNG path).
    """
    from analysis.equation4 import summarise

    out.mkdir(parents=True, exist_ok=True)
    data = panels(
        {"base": base_logits, "ssd": ssd_logits},
        eval_top_k=eval_decoding.top_k,
        eval_top_p=eval_decoding.top_p,
    )
    figure = plot_panels(data, out / "token_panels.png", title)
    report = lock_fork_report(base_logits, ssd_logits, rule=rule, eval_decoding=eval_decoding)
    # Eq. 4 with the base itself as the student (where SSD training starts) and with the SSD model.
    classes = classify(base_logits, rule)
    equation4 = pd.concat(
        [
            summarise(base_logits, student, train, classes).assign(student=name)
            for name, student in (("base", base_logits), ("ssd", ssd_logits))
        ],
        ignore_index=True,
    )
    for name, table in data.items():
        table.to_csv(out / f"panel_{name}.csv", index=False)
    for name, table in report.items():
        table.to_csv(out / f"lockfork_{name}.csv")
    equation4.to_csv(out / "equation4.csv", index=False)
    lines = [
        f"# {title}",
        "",
        f"positions: {len(base_logits)}; train {train.as_dict()}; eval {eval_decoding.as_dict()};",
        f"lock/fork rule: {rule}",
        "",
        "## classes (base vs SSD)",
        report["counts"].to_string(),
        "",
        "## transitions (rows: base class, columns: SSD class)",
        report["transitions"].to_string(),
        "",
        "## per base class, base vs SSD",
        report["by_class"].round(4).to_string(),
        "",
        "## Equation 4 and Eq. 30 (mean nats per position, by base class; student = base or SSD)",
        equation4.round(4).to_string(index=False),
    ]
    (out / "report.md").write_text("\n".join(lines) + "\n")
    return {"panels": data, "lockfork": report, "equation4": equation4, "figure": figure}


def main(argv: Sequence[str] | None = None) -> None:
    import argparse

    from analysis import token_sources
    from ssd.models import toy

    parser = argparse.ArgumentParser(description="Token-level base vs SSD analysis")
    parser.add_argument("--source", choices=["toy", "tiny-hf", "checkpoints"], default="toy")
    parser.add_argument("--base", help="base HF checkpoint folder (--source checkpoints)")
    parser.add_argument("--ssd", help="SSD HF checkpoint folder (--source checkpoints)")
    parser.add_argument("--samples", help="samples.jsonl generations to score (checkpoints)")
    parser.add_argument("--max-samples", type=int, default=64)
    parser.add_argument("--out", default="outputs/analysis/tokens")
    parser.add_argument("--train-temperature", type=float)
    parser.add_argument("--train-top-k", type=int)
    parser.add_argument("--train-top-p", type=float)
    parser.add_argument("--eval-top-k", type=int)
    parser.add_argument("--eval-top-p", type=float)
    parser.add_argument("--certain-top1", type=float, default=LockForkRule.certain_top1)
    parser.add_argument("--lock-top1", type=float, default=LockForkRule.lock_top1)
    parser.add_argument("--fork-second", type=float, default=LockForkRule.fork_second)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # tiny tensors: one thread is fastest on a shared machine
    rule = LockForkRule(args.certain_top1, args.lock_top1, args.fork_second)
    # Defaults: the toy's paper setting, else the paper's Qwen3 instruct setting.
    toy_source = args.source == "toy"
    default_train = toy.PAPER_TRAIN if toy_source else token_sources.PAPER_INSTRUCT_TRAIN
    train = Decoding(
        args.train_temperature if args.train_temperature is not None else default_train.temperature,
        args.train_top_k if args.train_top_k is not None else default_train.top_k,
        args.train_top_p if args.train_top_p is not None else default_train.top_p,
    )
    eval_decoding = Decoding(
        1.0,
        args.eval_top_k if args.eval_top_k is not None else (0 if toy_source else 20),
        args.eval_top_p
        if args.eval_top_p is not None
        else (toy.PAPER_EVAL_TOP_P if toy_source else 0.8),
    )
    if toy_source:
        base, ssd = token_sources.toy_positions(train=train)
        title = "toy model: teacher vs ideal SSD student"
    elif args.source == "tiny-hf":
        base, ssd = token_sources.tiny_hf_positions(train=train)
        title = "tiny random Qwen3: base vs ideal SSD student (base through the training decoding)"
    else:
        if not (args.base and args.ssd and args.samples):
            parser.error("--source checkpoints needs --base, --ssd and --samples")
        base, ssd = token_sources.checkpoint_positions(
            args.base, args.ssd, args.samples, args.max_samples
        )
        title = f"{args.base} vs {args.ssd}"
    result = token_report(
        base, ssd, Path(args.out), title=title, train=train, eval_decoding=eval_decoding, rule=rule
    )
    print((Path(args.out) / "report.md").read_text())
    print(f"figure: {result['figure']}")


if __name__ == "__main__":
    main()
