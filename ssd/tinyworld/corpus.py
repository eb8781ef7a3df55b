"""The pretraining corpus: pretraining-family problems with imperfect solutions, as token ids.

Imperfections a real code model has, built in on purpose:
- *lock tails*: each completion token is, with probability ``noise``, replaced by a distractor
  drawn uniformly from every code piece (a thin tail spread over many tokens); the text then goes
  on as if nothing happened, so each lock's tail is independent.
- *trap forks*: each clause opens with a style choice. The one-liner (one fixed name, the mode at
  that token with ``p_one``) writes the popular idiom, which is wrong on trap clauses (``>`` for
  "at least", ``max(...)`` without a default); loops and lists (several names, ranks 2 and below)
  are correct.

Run the tests: ``pytest tests/test_tinyworld.py -k corpus``.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field

from transformers import PreTrainedTokenizerFast

from ssd.tinyworld import tasks
from ssd.tinyworld.tokenizer import EOS, PAD, UNK, build_tokenizer


@dataclass(frozen=True)
class CorpusConfig:
    n_examples: int = 40_000
    noise: float = 0.03  # lock-tail mass per completion token
    p_one: float = 0.4  # one-liner (trap idiom on trap clauses): the mode at a clause's first token
    p_loop: float = 0.45  # loop styles, spread over LOOP_NAMES; the rest: list styles
    seed: int = 0


@dataclass
class Corpus:
    prompt_ids: list[list[int]]
    completion_ids: list[list[int]]  # ends with EOS
    tokenizer: PreTrainedTokenizerFast
    stats: dict[str, object] = field(default_factory=dict)


def vocabulary_texts(seed: int = 0) -> list[str]:
    """Texts covering every piece the world can produce (all splits' starters, all styles).

    Names are listed both at the start of an indented line and after a space: the tokenizer
    keeps the leading space, so those are different pieces.
    """
    texts = []
    for split in tasks.SPLITS:
        for task in tasks.generate_tasks(split, 100, seed):
            texts.append(task.starter())
            texts += tasks.reference_solutions(task)
    names = (*tasks.ONE_NAMES, *tasks.LOOP_NAMES, *tasks.LIST_NAMES, *tasks.ITEM_NAMES)
    texts += [f"    {name} = {name}\n" for name in names]
    texts.append(" ".join(str(k) for k in range(20)) + "\n")
    texts.append("max( sum( len( > < >= <= == += = + - * % [ ] ( ) , :\n")
    return texts


def build_corpus(cfg: CorpusConfig, tokenizer: PreTrainedTokenizerFast | None = None) -> Corpus:
    """Draw ``cfg.n_examples`` pretraining problems, one noisy solution each, tokenised."""
    if not 0 <= cfg.noise < 1:
        raise ValueError(f"noise must be in [0, 1), got {cfg.noise}")
    if not (0 <= cfg.p_one and 0 <= cfg.p_loop and cfg.p_one + cfg.p_loop <= 1):
        raise ValueError(f"p_one={cfg.p_one}, p_loop={cfg.p_loop}: need both >= 0, sum <= 1")
    tok = tokenizer or build_tokenizer(vocabulary_texts(cfg.seed))
    rng = random.Random(cfg.seed)
    task_pool = tasks.generate_tasks("pretrain", min(cfg.n_examples, 20_000), cfg.seed)
    specials = {tok.convert_tokens_to_ids(t) for t in (EOS, PAD, UNK)}
    vocab = tok.get_vocab()
    eos = vocab[EOS]
    prompts, completions = [], []
    code_pieces: set[int] = set()
    first_tokens: Counter[tuple[bool, str]] = Counter()
    n_noisy = n_tokens = 0
    clean = []
    for i in range(cfg.n_examples):
        task = task_pool[i % len(task_pool)]
        styles = tasks.random_styles(task, rng, cfg.p_one, cfg.p_loop)
        for clause, style in zip(task.clauses, styles, strict=True):
            first_tokens[(clause.is_trap, style.name if style.kind != "one" else "<one>")] += 1
        prompt = tok(task.starter(), add_special_tokens=False)["input_ids"]
        body = tok(tasks.solution(task, styles), add_special_tokens=False)["input_ids"]
        if tok.unk_token_id in prompt or tok.unk_token_id in body:
            raise ValueError(f"tokenizer does not cover task {task}")
        code_pieces.update(body)
        prompts.append(prompt)
        clean.append(body)
    pool = sorted(code_pieces - specials)
    for body in clean:
        noisy = list(body)
        for j in range(len(noisy)):
            if rng.random() < cfg.noise:
                noisy[j] = rng.choice(pool)
                n_noisy += 1
        n_tokens += len(noisy)
        completions.append([*noisy, eos])
    stats = {
        "n_examples": cfg.n_examples,
        "n_tasks": len(task_pool),
        "tokens": n_tokens + sum(len(p) for p in prompts),
        "completion_tokens": n_tokens,
        "noisy_tokens": n_noisy,
        "distractor_pool": len(pool),
        "vocab": len(tok),
        "mean_completion_len": n_tokens / max(1, cfg.n_examples),
        "clause_first_style_counts": {
            f"{'trap' if t else 'plain'}:{n}": c for (t, n), c in sorted(first_tokens.items())
        },
    }
    return Corpus(prompts, completions, tok, stats)
