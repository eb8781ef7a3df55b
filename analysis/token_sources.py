"""Next-token distributions of a base model and its SSD model on the same generations.

Three sources, each returning ``(base_logits, ssd_logits)`` as [positions, vocab] float64 tensors:
the paper's toy model (``ssd.models.toy``), a tiny random-weight Qwen3 built in-process whose
"SSD model" is the ideal student (base passed through ``ssd.decoding.chain_logprobs([train])``),
and two HF checkpoints scored on a ``samples.jsonl`` of generations.
Test: ``pytest tests/test_tokens.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ssd.decoding import Decoding, chain_logprobs, sample_from_logprobs
from ssd.models import toy

# The paper's training decoding for Qwen3 instruct models (T_train 1.6, top-k 20, top-p 0.8).
PAPER_INSTRUCT_TRAIN = Decoding(1.6, 20, 0.8)


def toy_positions(
    n_sequences: int = 2000,
    *,
    train: Decoding = toy.PAPER_TRAIN,
    seed: int = 0,
    trained_steps: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Toy positions visited by the teacher's own generations (T = 1, no truncation).

    Args:
        n_sequences: sequences drawn from the teacher.
        train: SSD training decoding.
        seed: sampling seed.
        trained_steps: 0 uses the ideal student; > 0 fits a student by Adam on
            ``n_sequences`` SSD samples for that many steps (``ssd.models.toy.fit_student``).

    Returns:
        Base and SSD log-probabilities at every visited position.
    """
    teacher = toy.teacher_logprobs()
    generator = torch.Generator().manual_seed(seed)
    sequences, _ = toy.sample_sequences(teacher, [Decoding(1.0)], n_sequences, generator)
    states = []
    for sequence in sequences:
        state: int | None = toy.ROOT_STATE
        for token in sequence:
            assert state is not None and state >= 0
            states.append(state)
            state = toy.next_state(state, token)
    if trained_steps > 0:
        ssd_samples, _ = toy.sample_sequences(teacher, [train], n_sequences, generator)
        student, _ = toy.fit_student(toy.visited_counts(ssd_samples), teacher, trained_steps, 0.05)
    else:
        student = toy.ideal_student_logprobs(train)
    index = torch.tensor(states)
    return teacher[index], student[index]


def tiny_qwen3(vocab_size: int = 64, seed: int = 0, init_scale: float = 0.6) -> torch.nn.Module:
    """A 2-layer random-weight Qwen3 with a small vocabulary (nothing downloaded).

    ``init_scale`` is the weight initialiser's std: larger than the default 0.02 so that the
    random model has peaked and flat positions like a trained one, not near-uniform logits.
    """
    from transformers import Qwen3Config, Qwen3ForCausalLM

    torch.manual_seed(seed)
    config = Qwen3Config(
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=8,
        max_position_embeddings=256,
        initializer_range=init_scale,
        tie_word_embeddings=True,
    )
    return Qwen3ForCausalLM(config).eval()


@torch.no_grad()
def generate(
    model: torch.nn.Module,
    prompts: torch.Tensor,
    new_tokens: int,
    decoding: Decoding,
    seed: int = 0,
) -> torch.Tensor:
    """Sample ``new_tokens`` per prompt row with the shared decoding (no KV cache: tiny models)."""
    generator = torch.Generator().manual_seed(seed)
    ids = prompts
    for _ in range(new_tokens):
        logits = model(input_ids=ids).logits[:, -1, :]
        ids = torch.cat(
            [ids, sample_from_logprobs(chain_logprobs(logits, [decoding]), generator)[:, None]],
            dim=1,
        )
    return ids


@torch.no_grad()
def completion_logits(model: torch.nn.Module, ids: torch.Tensor, prompt_len: int) -> torch.Tensor:
    """Log-probabilities that predicted each completion token, flattened to [positions, vocab]."""
    logits = model(input_ids=ids).logits[:, prompt_len - 1 : -1, :]
    return torch.log_softmax(logits.to(torch.float64), dim=-1).reshape(-1, logits.shape[-1])


def tiny_hf_positions(
    *,
    train: Decoding = PAPER_INSTRUCT_TRAIN,
    n_prompts: int = 16,
    prompt_len: int = 4,
    new_tokens: int = 24,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Tiny Qwen3 base vs its ideal SSD student on the base model's own generations."""
    model = tiny_qwen3(seed=seed)
    generator = torch.Generator().manual_seed(seed)
    prompts = torch.randint(
        0, model.config.vocab_size, (n_prompts, prompt_len), generator=generator
    )
    ids = generate(model, prompts, new_tokens, Decoding(1.0), seed=seed)
    base = completion_logits(model, ids, prompt_len)
    return base, chain_logprobs(base, [train])


def checkpoint_positions(
    base_path: str, ssd_path: str, samples_path: str, max_samples: int = 64
) -> tuple[torch.Tensor, torch.Tensor]:
    """Two local HF checkpoints scored on the same generations (``samples.jsonl`` records).

    Each line needs ``prompt_token_ids`` and ``token_ids`` (``ssd.records.Sample``).
    """
    from transformers import AutoModelForCausalLM

    records = []
    with Path(samples_path).open() as f:
        for line in f:
            if line.strip():
                records.append(json.loads(line))
            if len(records) >= max_samples:
                break
    if not records:
        raise ValueError(f"no samples in {samples_path}")
    outputs: list[list[torch.Tensor]] = [[], []]
    for i, path in enumerate((base_path, ssd_path)):
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
        for record in records:
            prompt = list(record["prompt_token_ids"])
            ids = torch.tensor([prompt + list(record["token_ids"])])
            outputs[i].append(completion_logits(model, ids, len(prompt)))
        del model
    return torch.cat(outputs[0]), torch.cat(outputs[1])
