"""The paper's toy lock/fork model (section 5): a 16-token finite-state machine, exactly.

The root branches into two symmetric successful paths (tok0 and tok1; tok2.. fail). Each path
passes 1 fork then 3 locks, then PASS. At every non-root state tok0 is the only correct token.
Every state's distribution is four head probabilities (tok0..tok3) plus a 12-token geometric tail
``a * r^i`` normalised to the remaining mass. Everything here is exact (no sampling) except
``sample_sequences``; the toy backend (``ssd.backends.toy``) wraps it for the pipeline.

Run ``python -m ssd.models.toy`` to print the teacher's and the ideal student's best success
probability over evaluation temperature, and where each peaks.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ssd.decoding import Decoding, chain_logprobs, sample_from_logprobs

VOCAB = 16
TAIL = 12
LOCKS_PER_PATH = 3
# (head tok0..tok3, tail ratio r) from the paper's table.
LOCK = ((0.750, 0.055, 0.050, 0.037), 0.75)
FORK = ((0.148, 0.280, 0.140, 0.144), 0.5)
ROOT = ((0.200, 0.190, 0.329, 0.126), 0.5)

# State ids: root, then for each path (A via tok0, B via tok1): fork, lock1, lock2, lock3.
ROOT_STATE = 0
PATH_STATES = ((1, 2, 3, 4), (5, 6, 7, 8))
STATE_NAMES = (
    "root",
    "fork_A",
    "lock_A1",
    "lock_A2",
    "lock_A3",
    "fork_B",
    "lock_B1",
    "lock_B2",
    "lock_B3",
)
NUM_STATES = len(STATE_NAMES)
MAX_LEN = 1 + 1 + LOCKS_PER_PATH  # root token, fork token, three lock tokens

# The paper's toy SSD setting: train at T 0.9 with top-p 0.85, evaluate with top-p 0.80.
PAPER_TRAIN = Decoding(temperature=0.9, top_k=0, top_p=0.85)
PAPER_EVAL_TOP_P = 0.80


def state_distribution(head: Sequence[float], ratio: float) -> np.ndarray:
    """Head probabilities for tok0..tok3, then a geometric tail ``a r^i`` over the other 12."""
    tail = ratio ** np.arange(TAIL)
    rest = 1.0 - float(sum(head))
    return np.concatenate([np.asarray(head, dtype=np.float64), rest * tail / tail.sum()])


def teacher_logprobs() -> torch.Tensor:
    """Log-probabilities of the base model, shape [NUM_STATES, VOCAB]."""
    rows = [state_distribution(*ROOT)]
    for _ in PATH_STATES:
        rows.append(state_distribution(*FORK))
        rows.extend(state_distribution(*LOCK) for _ in range(LOCKS_PER_PATH))
    return torch.log(torch.tensor(np.stack(rows), dtype=torch.float64))


def next_state(state: int, token: int) -> int | None:
    """Where a token leads: a state id, -1 for PASS, or None for FAIL."""
    if state == ROOT_STATE:
        return PATH_STATES[token][0] if token in (0, 1) else None
    if token != 0:
        return None
    for path in PATH_STATES:
        if state in path:
            i = path.index(state)
            return path[i + 1] if i + 1 < len(path) else -1
    raise ValueError(f"unknown state {state}")


def decoded_probs(logprobs: torch.Tensor, chain: Sequence[Decoding]) -> torch.Tensor:
    """Per-state probabilities after a decoding chain (shared vLLM-order decoding)."""
    return torch.exp(chain_logprobs(logprobs, list(chain)))


def success_probability(logprobs: torch.Tensor, chain: Sequence[Decoding]) -> float:
    """Exact probability of reaching PASS: sum over paths of root * fork(tok0) * prod lock(tok0).

    For the symmetric teacher this is the paper's ``[q_root(0) + q_root(1)] q_fork(0) q_lock(0)^3``.
    """
    q = decoded_probs(logprobs, chain)
    total = 0.0
    for root_token, path in enumerate(PATH_STATES):
        total += float(q[ROOT_STATE, root_token] * torch.prod(q[list(path), 0]))
    return total


def sample_sequences(
    logprobs: torch.Tensor, chain: Sequence[Decoding], n: int, generator: torch.Generator
) -> tuple[list[list[int]], list[bool]]:
    """Draw n whole sequences (until PASS or the first failing token); vectorised per step."""
    lp = chain_logprobs(logprobs, list(chain))
    state = torch.full((n,), ROOT_STATE, dtype=torch.long)
    alive = torch.ones(n, dtype=torch.bool)
    tokens = torch.full((n, MAX_LEN), -1, dtype=torch.long)
    passed = torch.zeros(n, dtype=torch.bool)
    transition = torch.full((NUM_STATES, VOCAB), -2, dtype=torch.long)  # -2 FAIL, -1 PASS
    for s in range(NUM_STATES):
        for t in range(VOCAB):
            target = next_state(s, t)
            transition[s, t] = -2 if target is None else target
    for step in range(MAX_LEN):
        drawn = sample_from_logprobs(lp[state], generator)
        tokens[:, step] = torch.where(alive, drawn, tokens[:, step])
        nxt = transition[state, drawn]
        passed |= alive & (nxt == -1)
        alive &= nxt >= 0
        state = torch.where(alive, nxt, torch.zeros_like(nxt))
    seqs = [[int(t) for t in row if t >= 0] for row in tokens]
    return seqs, passed.tolist()


def visited_counts(sequences: Sequence[Sequence[int]]) -> torch.Tensor:
    """Token counts per state, [NUM_STATES, VOCAB]: the sufficient statistics of SFT on the toy."""
    counts = torch.zeros(NUM_STATES, VOCAB, dtype=torch.float64)
    for seq in sequences:
        state: int | None = ROOT_STATE
        for token in seq:
            if state is None or state < 0:
                raise ValueError(f"sequence {list(seq)} continues past a terminal state")
            counts[state, token] += 1
            state = next_state(state, token)
    return counts


def fit_student(
    counts: torch.Tensor,
    init: torch.Tensor,
    steps: int,
    learning_rate: float,
    on_step: Callable[[int, torch.Tensor], None] | None = None,
) -> tuple[torch.Tensor, list[float]]:
    """Fit a logit table by gradient descent (Adam) on token cross-entropy over the samples.

    Starts at ``init`` (the teacher), as the paper's student starts at the base model. Returns
    the student's log-probabilities and the loss curve. States never visited keep the teacher.
    ``on_step(step, logprobs)`` sees the student after each step (pruning: ``ssd.fidelity``).
    """
    logits = init.clone().requires_grad_(True)
    opt = torch.optim.Adam([logits], lr=learning_rate)
    total = counts.sum().clamp_min(1.0)
    losses: list[float] = []
    for _ in range(steps):
        opt.zero_grad()
        loss = -(counts * torch.log_softmax(logits, dim=-1)).sum() / total
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if on_step is not None:
            on_step(len(losses), torch.log_softmax(logits.detach(), dim=-1))
    return torch.log_softmax(logits.detach(), dim=-1), losses


def ideal_student_logprobs(train: Decoding) -> torch.Tensor:
    """The closed-form SSD student: the teacher tempered at T_train, truncated, renormalised."""
    return chain_logprobs(teacher_logprobs(), [train])


def total_variation(p_log: torch.Tensor, q_log: torch.Tensor) -> torch.Tensor:
    """Per-state total variation distance between two [states, vocab] log-prob tables."""
    return 0.5 * (p_log.exp() - q_log.exp()).abs().sum(dim=-1)


@dataclass
class Peak:
    best: float
    temperature: float


def temperature_curve(
    logprobs: torch.Tensor, pre: Sequence[Decoding], temperatures: np.ndarray, top_p: float
) -> np.ndarray:
    """Exact success probability at each evaluation temperature (evaluation top-p fixed)."""
    return np.array(
        [success_probability(logprobs, [*pre, Decoding(float(t), 0, top_p)]) for t in temperatures]
    )


def peak(curve: np.ndarray, temperatures: np.ndarray) -> Peak:
    i = int(np.argmax(curve))
    return Peak(best=float(curve[i]), temperature=float(temperatures[i]))


def paper_numbers(
    train: Decoding = PAPER_TRAIN,
    eval_top_p: float = PAPER_EVAL_TOP_P,
    grid: np.ndarray | None = None,
) -> dict[str, Peak]:
    """Teacher's and ideal student's best success probability over evaluation temperature."""
    temps = np.round(np.arange(0.05, 3.0001, 0.005), 4) if grid is None else grid
    teacher = teacher_logprobs()
    return {
        "teacher": peak(temperature_curve(teacher, [], temps, eval_top_p), temps),
        "ideal_student": peak(temperature_curve(teacher, [train], temps, eval_top_p), temps),
    }


def main(argv: Sequence[str] | None = None) -> None:
    """Print the toy's headline numbers (the README's toy-check command)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--t-train", type=float, default=PAPER_TRAIN.temperature)
    parser.add_argument("--train-top-p", type=float, default=PAPER_TRAIN.top_p)
    parser.add_argument("--eval-top-p", type=float, default=PAPER_EVAL_TOP_P)
    args = parser.parse_args(argv)
    train = Decoding(args.t_train, 0, args.train_top_p)
    numbers = paper_numbers(train, args.eval_top_p)
    lines = [
        f"toy model: T_train={train.temperature} top_p={train.top_p}; eval top_p={args.eval_top_p};"
        " eval temperature grid 0.05..3.00 step 0.005",
    ]
    for name, pk in numbers.items():
        lines.append(f"  {name:14s} best success {pk.best:.4f} at T_eval {pk.temperature:.3f}")
    gain = numbers["ideal_student"].best - numbers["teacher"].best
    lines.append(f"  gain of the ideal student over the best-tuned teacher: {gain:+.4f}")
    print("\n".join(lines))  # noqa: T201 - this is a command's output


if __name__ == "__main__":
    main()
