"""The toy model's figures, exact from ``ssd.models.toy``, and a synthetic toy sweep folder.

Figures: success probability vs evaluation temperature for the teacher, the ideal student and a
student trained by SGD on sampled sequences; the fork (and lock) nucleus at each optimum; the
top-p robustness sweep. ``write_toy_sweep`` writes a sweep folder in the sweeper's format from the
toy's exact success probabilities, so ``analysis.teff_map`` can be checked against a known optimum.
Run: ``python -m analysis.toy_figures --out outputs/analysis/toy [--sweep-out DIR]``;
test: ``pytest tests/test_toy_figures.py``.
"""

from __future__ import annotations

import argparse
import functools
import json
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from ssd.decoding import Decoding, chain_logprobs  # noqa: E402
from ssd.evaluation.passk import pass_at_k as _pass_at_k  # noqa: E402
from ssd.figures import save_figure  # noqa: E402
from ssd.models import toy  # noqa: E402

# Per-problem pass@k repeats the same few (n, c, k) thousands of times per study.
pass_at_k = functools.lru_cache(maxsize=None)(_pass_at_k)
TEMPERATURES = np.round(np.arange(0.05, 3.0001, 0.01), 4)
SWEEP_TEMPERATURES = np.round(np.arange(0.05, 3.0001, 0.02), 4)  # coarser: 5 curves per top-p
FORK_STATE = toy.PATH_STATES[0][0]
LOCK_STATE = toy.PATH_STATES[0][1]


def trained_student(
    train: Decoding = toy.PAPER_TRAIN,
    *,
    n_sequences: int = 20000,
    steps: int = 400,
    learning_rate: float = 0.05,
    seed: int = 0,
) -> torch.Tensor:
    """A student fitted by Adam on SSD samples of the teacher (``ssd.models.toy.fit_student``)."""
    teacher = toy.teacher_logprobs()
    generator = torch.Generator().manual_seed(seed)
    sequences, _ = toy.sample_sequences(teacher, [train], n_sequences, generator)
    student, _ = toy.fit_student(toy.visited_counts(sequences), teacher, steps, learning_rate)
    return student


def success_curves(
    temperatures: np.ndarray = TEMPERATURES,
    *,
    train: Decoding = toy.PAPER_TRAIN,
    eval_top_p: float = toy.PAPER_EVAL_TOP_P,
    student: torch.Tensor | None = None,
) -> pd.DataFrame:
    """Exact success probability vs T_eval for teacher, ideal student and trained student."""
    teacher = toy.teacher_logprobs()
    curves = {
        "t_eval": temperatures,
        "teacher": toy.temperature_curve(teacher, [], temperatures, eval_top_p),
        "ideal_student": toy.temperature_curve(teacher, [train], temperatures, eval_top_p),
    }
    if student is not None:
        curves["trained_student"] = toy.temperature_curve(student, [], temperatures, eval_top_p)
    return pd.DataFrame(curves)


def plot_success(curves: pd.DataFrame, path: Path, eval_top_p: float) -> Path:
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for name in [c for c in curves.columns if c != "t_eval"]:
        i = int(curves[name].idxmax())
        label = f"{name}: best {curves[name][i]:.4f} at T={curves['t_eval'][i]:.2f}"
        (line,) = ax.plot(curves["t_eval"], curves[name], label=label)
        ax.plot(curves["t_eval"][i], curves[name][i], "o", color=line.get_color())
    ax.set(
        xlabel="evaluation temperature",
        ylabel="success probability",
        title=f"toy model, evaluation top-p {eval_top_p:g}",
    )
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def nuclei(
    curves: pd.DataFrame,
    *,
    train: Decoding = toy.PAPER_TRAIN,
    eval_top_p: float = toy.PAPER_EVAL_TOP_P,
) -> pd.DataFrame:
    """Decoded fork and lock distributions of teacher and ideal student at their optima."""
    teacher = toy.teacher_logprobs()
    rows = []
    for name, pre in (("teacher", []), ("ideal_student", [train])):
        t_best = float(curves["t_eval"][int(curves[name].idxmax())])
        probs = torch.exp(chain_logprobs(teacher, [*pre, Decoding(t_best, 0, eval_top_p)]))
        for state_name, state in (("fork", FORK_STATE), ("lock", LOCK_STATE)):
            for token in range(toy.VOCAB):
                rows.append(
                    {
                        "model": name,
                        "t_eval": t_best,
                        "state": state_name,
                        "token": token,
                        "prob": float(probs[state, token]),
                    }
                )
    return pd.DataFrame(rows)


def plot_nuclei(table: pd.DataFrame, path: Path) -> Path:
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for ax, state in zip(axes, ("fork", "lock"), strict=True):
        for offset, (name, rows) in zip(
            (-0.2, 0.2), table[table["state"] == state].groupby("model", sort=False), strict=True
        ):
            kept = int((rows["prob"] > 0).sum())
            label = f"{name} at T={rows['t_eval'].iloc[0]:.2f}: {kept} tokens kept"
            ax.bar(rows["token"] + offset, rows["prob"], 0.4, label=label)
        ax.axvspan(-0.5, 0.5, color="g", alpha=0.1)  # tok0: the only correct token
        ax.set(
            xlabel="token (tok0 correct)",
            ylabel="decoded probability",
            title=f"{state} nucleus at each optimum",
        )
        ax.legend(fontsize=8)
    return save_figure(fig, path)


def top_p_sweep(
    eval_top_ps: Sequence[float] = tuple(np.round(np.arange(0.5, 1.0001, 0.05), 2)),
    train_top_ps: Sequence[float] = (0.75, 0.85, 0.95, 1.0),
    t_train: float = toy.PAPER_TRAIN.temperature,
    temperatures: np.ndarray = SWEEP_TEMPERATURES,
) -> pd.DataFrame:
    """Best success over T_eval for each evaluation top-p: teacher vs students (train top-p)."""
    teacher = toy.teacher_logprobs()
    rows = []
    for eval_top_p in eval_top_ps:
        row = {"eval_top_p": eval_top_p}
        row["teacher"] = toy.temperature_curve(teacher, [], temperatures, eval_top_p).max()
        for train_top_p in train_top_ps:
            pre = [Decoding(t_train, 0, train_top_p)]
            curve = toy.temperature_curve(teacher, pre, temperatures, eval_top_p)
            row[f"student train top-p {train_top_p:g}"] = curve.max()
        rows.append(row)
    return pd.DataFrame(rows)


def plot_top_p_sweep(table: pd.DataFrame, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for name in [c for c in table.columns if c != "eval_top_p"]:
        ax.plot(
            table["eval_top_p"],
            table[name],
            marker="o",
            ls="-" if name == "teacher" else "--",
            label=name,
        )
    ax.set(
        xlabel="evaluation top-p",
        ylabel="best success over T_eval",
        title=f"toy top-p robustness (T_train {toy.PAPER_TRAIN.temperature:g})",
    )
    ax.legend(fontsize=8)
    return save_figure(fig, path)


# ---------------------------------------------------------------- synthetic toy sweep


def exact_teff_optimum(eval_top_p: float = 1.0, step: float = 1e-4) -> tuple[float, float]:
    """T_eff maximising the untruncated-training toy's success, and that success.

    Without training truncation the ideal student at (T_train, T_eval) decodes
    ``Temper_{T_train T_eval}`` of the teacher, so success depends on T_eff only.
    """
    teacher = toy.teacher_logprobs()
    coarse = np.arange(0.1, 3.0, 0.01)
    values = toy.temperature_curve(teacher, [], coarse, eval_top_p)
    centre = coarse[int(np.argmax(values))]
    fine = np.arange(centre - 0.02, centre + 0.02, step)
    values = toy.temperature_curve(teacher, [], fine, eval_top_p)
    i = int(np.argmax(values))
    return float(fine[i]), float(values[i])


def write_toy_sweep(
    folder: Path,
    t_trains: Sequence[float] = (0.9, 1.0, 1.1),
    t_evals: Sequence[float] = (0.5, 0.55, 0.6, 0.65, 0.7),
    *,
    eval_top_p: float = 1.0,
    n_problems: int = 500,
    n_samples: int = 10,
    seed: int = 0,
) -> Path:
    """Write a sweep folder (``trials.csv``, ``<n>/results.json``, ``problems.jsonl``) whose
    trials are the ideal toy student's exact success probabilities, sampled per problem.

    Every "problem" is one toy episode family: ``n_samples`` independent attempts, each passing
    with the exact success probability of the trial's (T_train, T_eval); the base model's
    numbers use the teacher at T_eval. The default grid (T_eff 0.45..0.77) surrounds the exact
    optimum (0.587); a wide grid shows the quadratic vertex's bias on this skewed curve.
    """
    folder.mkdir(parents=True, exist_ok=True)
    teacher = toy.teacher_logprobs()
    rng = np.random.default_rng(seed)
    trials = []
    for number, (t_train, t_eval) in enumerate((a, b) for a in t_trains for b in t_evals):
        evaluation = Decoding(t_eval, 0, eval_top_p)
        probabilities = {
            "ssd": toy.success_probability(teacher, [Decoding(t_train), evaluation]),
            "base": toy.success_probability(teacher, [evaluation]),
        }
        results: dict[str, object] = {
            "t_train": t_train,
            "t_eval": t_eval,
            "t_eff": t_train * t_eval,
            "config": {
                "sampling": {"temperature": t_train, "top_k": 0, "top_p": 1.0},
                "evaluation": {"temperature": t_eval, "top_k": 0, "top_p": eval_top_p},
            },
        }
        for side, probability in probabilities.items():
            eval_dir = folder / str(number) / f"eval_{side}"
            eval_dir.mkdir(parents=True, exist_ok=True)
            correct = rng.binomial(n_samples, probability, n_problems)
            with (eval_dir / "problems.jsonl").open("w") as f:
                for i, c in enumerate(correct):
                    record = {
                        "problem_id": f"toy-{i}",
                        "difficulty": "easy",
                        "n": n_samples,
                        "c": int(c),
                        "verdicts": [],
                    }
                    f.write(json.dumps(record) + "\n")
            metrics = {
                f"pass@{k}": float(np.mean([pass_at_k(n_samples, int(c), k) for c in correct]))
                for k in (1, 5)
            }
            results[side] = {
                **metrics,
                "exact_success": probability,
                "eval_dir": str(eval_dir.relative_to(folder / str(number))),
            }
        results["objective"] = results["ssd"]["pass@1"]  # type: ignore[index]
        (folder / str(number) / "results.json").write_text(json.dumps(results, indent=1))
        trials.append(
            {
                "number": number,
                "state": "COMPLETE",
                "value": results["objective"],
                "params_sampling.temperature": t_train,
                "params_evaluation.temperature": t_eval,
                "user_attrs_t_eff": t_train * t_eval,
            }
        )
    pd.DataFrame(trials).to_csv(folder / "trials.csv", index=False)
    return folder


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Toy-model figures")
    parser.add_argument("--out", default="outputs/analysis/toy")
    parser.add_argument("--eval-top-p", type=float, default=toy.PAPER_EVAL_TOP_P)
    parser.add_argument("--train-steps", type=int, default=400, help="SGD steps of the student")
    parser.add_argument("--train-sequences", type=int, default=20000)
    parser.add_argument("--sweep-out", help="also write a synthetic toy sweep folder here")
    parser.add_argument("--sweep-t-train", type=float, nargs="+", default=[0.9, 1.0, 1.1])
    parser.add_argument(
        "--sweep-t-eval", type=float, nargs="+", default=[0.5, 0.55, 0.6, 0.65, 0.7]
    )
    parser.add_argument("--sweep-problems", type=int, default=500)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # tiny tensors: one thread is fastest on a shared machine
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    student = trained_student(n_sequences=args.train_sequences, steps=args.train_steps)
    curves = success_curves(eval_top_p=args.eval_top_p, student=student)
    curves.to_csv(out / "toy_success.csv", index=False)
    plot_success(curves, out / "toy_success.png", args.eval_top_p)
    table = nuclei(curves, eval_top_p=args.eval_top_p)
    table.to_csv(out / "toy_nuclei.csv", index=False)
    plot_nuclei(table, out / "toy_nuclei.png")
    sweep = top_p_sweep()
    sweep.to_csv(out / "toy_top_p_sweep.csv", index=False)
    plot_top_p_sweep(sweep, out / "toy_top_p_sweep.png")
    for name in [c for c in curves.columns if c != "t_eval"]:
        i = int(curves[name].idxmax())
        print(f"{name:16s} best {curves[name][i]:.4f} at T_eval {curves['t_eval'][i]:.2f}")
    print(sweep.round(4).to_string(index=False))
    if args.sweep_out:
        write_toy_sweep(
            Path(args.sweep_out),
            args.sweep_t_train,
            args.sweep_t_eval,
            n_problems=args.sweep_problems,
        )
        t_opt, p_opt = exact_teff_optimum()
        print(f"toy sweep in {args.sweep_out}; exact T_eff optimum {t_opt:.4f} ({p_opt:.4f})")


if __name__ == "__main__":
    main()
