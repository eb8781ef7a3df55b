"""The tiny world: problems, family split, corpus traps and tails, tokenizer, shipped model."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import pytest

from ssd.benchmarks.base import HUMANEVAL
from ssd.tinyworld import tasks
from ssd.tinyworld.benchmark import load_problems, load_prompts
from ssd.tinyworld.corpus import CorpusConfig, build_corpus, vocabulary_texts
from ssd.tinyworld.tokenizer import build_tokenizer, pieces

SHIPPED = Path(__file__).resolve().parents[1] / "ssd" / "data" / "tinyworld" / "base"


def _passes(task: tasks.Task, body: str) -> bool:
    """Trusted reference code only: run it in-process against the hidden tests."""
    ns: dict = {}
    try:
        exec(task.starter() + body + tasks.test_code(task), ns)  # noqa: S102
        ns["check"](ns["f"])
    except Exception:
        return False
    return True


def test_reference_solutions_pass_and_differ():
    for task in tasks.generate_tasks("eval", 40, 3):
        refs = tasks.reference_solutions(task)
        assert len(set(refs)) == 3
        assert all(_passes(task, body) for body in refs)


def test_trap_idiom_fails_exactly_on_trap_clauses():
    rng = random.Random(0)
    seen_trap = seen_plain = False
    for task in tasks.generate_tasks("pretrain", 80, 1):
        one_liners = tasks.random_styles(task, rng, p_one=1.0, p_loop=0.0)
        ok = _passes(task, tasks.solution(task, one_liners))
        assert ok == (task.n_traps == 0), task
        seen_trap |= not ok
        seen_plain |= ok
    assert seen_trap and seen_plain


def test_reference_solutions_pass_in_the_sandbox():
    from ssd.evaluation.execute import Executor

    problems = load_problems("eval", 6, 0)
    items = [
        (p, body)
        for p in problems
        for body in tasks.reference_solutions(
            tasks.generate_tasks("eval", 6, 0)[int(p.problem_id.rsplit("/", 1)[1])]
        )
    ]
    with Executor(workers=1) as ex:
        verdicts = ex.run_many(items)
    assert all(v.passed for v in verdicts), [v.status for v in verdicts]


def test_family_split_is_disjoint_and_stable():
    fams = {s: {t.family for t in tasks.generate_tasks(s, 300, 0)} for s in tasks.SPLITS}
    assert not fams["pretrain"] & fams["eval"]
    assert not fams["pretrain"] & fams["ssd_prompt"]
    assert not fams["ssd_prompt"] & fams["eval"]
    assert all(tasks.family_split(f) == s for s, fs in fams.items() for f in fs)
    with pytest.raises(ValueError, match="split"):
        tasks.generate_tasks("test", 1, 0)


def test_benchmark_problems_and_prompts():
    problems = load_problems("eval", 20, 0)
    assert [p.problem_id for p in problems] == [p.problem_id for p in load_problems("eval", 20, 0)]
    assert all(p.kind == HUMANEVAL and p.entry_point == "f" for p in problems)
    assert all("def check(candidate):" in p.test_code for p in problems)
    assert {p.difficulty for p in problems} <= {"easy", "medium", "hard"}
    prompts = load_prompts(50, 0)
    assert not {p.metadata["family"] for p in prompts} & {p.metadata["family"] for p in problems}
    assert prompts[0].messages[0]["content"].startswith("def f(xs):\n")


def test_corpus_trap_is_the_mode_and_tails_are_thin():
    corpus = build_corpus(CorpusConfig(n_examples=3000, noise=0.03, seed=0))
    counts = corpus.stats["clause_first_style_counts"]
    trap = {k.split(":", 1)[1]: v for k, v in counts.items() if k.startswith("trap:")}
    one = trap.pop("<one>")
    # The wrong idiom is the single most likely first token; the correct styles together beat it.
    assert one > max(trap.values()) * 3
    assert sum(trap.values()) > one
    share = corpus.stats["noisy_tokens"] / corpus.stats["completion_tokens"]
    assert 0.025 < share < 0.035
    assert corpus.stats["distractor_pool"] > 50  # the tail is spread over many tokens
    eos = corpus.tokenizer.eos_token_id
    assert all(c[-1] == eos for c in corpus.completion_ids)


def test_tokenizer_round_trip(tmp_path):
    from transformers import AutoTokenizer

    tok = build_tokenizer(vocabulary_texts(0))
    tok.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    for task in tasks.generate_tasks("eval", 10, 5):
        for text in [task.starter(), *tasks.reference_solutions(task)]:
            ids = loaded(text, add_special_tokens=False)["input_ids"]
            assert loaded.unk_token_id not in ids
            assert loaded.decode(ids) == text
    # Prompt and completion tokenised apart give the same ids as together (no merge at the seam).
    task = tasks.generate_tasks("eval", 1, 0)[0]
    body = tasks.reference_solutions(task)[0]
    apart = loaded(task.starter())["input_ids"] + loaded(body)["input_ids"]
    assert apart == loaded(task.starter() + body)["input_ids"]
    with pytest.raises(ValueError, match="cover"):
        pieces("x\t= 1")


@pytest.mark.skipif(not SHIPPED.exists(), reason="shipped checkpoint not built yet")
def test_shipped_checkpoint_matches_provenance():
    prov = json.loads((SHIPPED / "provenance.json").read_text())
    digest = hashlib.sha256((SHIPPED / "model.safetensors").read_bytes()).hexdigest()
    assert digest == prov["weights_sha256"]
    assert prov["n_parameters"] < 5_000_000
    assert prov["command"].startswith("python -m ssd.tinyworld.build")
    config = json.loads((SHIPPED / "config.json").read_text())
    assert config["model_type"] == "llama"


@pytest.mark.integration
def test_shortened_rebuild_gives_a_loadable_model(tmp_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ssd.tinyworld.build import main

    prov = main(
        [
            "--out",
            str(tmp_path),
            "--seed",
            "1",
            "--steps",
            "3",
            "--examples",
            "200",
            "--hidden",
            "32",
            "--layers",
            "1",
        ]
    )
    model = AutoModelForCausalLM.from_pretrained(tmp_path)
    tok = AutoTokenizer.from_pretrained(tmp_path)
    ids = tok(load_problems("eval", 1, 0)[0].starter_code, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        logits = model(ids).logits
    assert logits.shape == (1, ids.shape[1], len(tok))
    assert (
        prov["weights_sha256"]
        == hashlib.sha256((tmp_path / "model.safetensors").read_bytes()).hexdigest()
    )
    assert prov["seed"] == 1 and prov["training"]["steps"] == 3


@pytest.mark.skipif(not SHIPPED.exists(), reason="shipped checkpoint not built yet")
def test_shipped_tokenizer_is_the_rebuilt_one():
    from transformers import AutoTokenizer

    shipped = AutoTokenizer.from_pretrained(SHIPPED)
    assert shipped.get_vocab() == build_tokenizer(vocabulary_texts(0)).get_vocab()


@pytest.mark.integration
@pytest.mark.skipif(not SHIPPED.exists(), reason="shipped checkpoint not built yet")
def test_shipped_model_falls_into_traps_greedily():
    """Greedy decoding solves trap-free problems and writes the wrong idiom on trap clauses."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ssd.backends.hf import decode_batch
    from ssd.decoding import Decoding

    torch.set_num_threads(1)
    model = AutoModelForCausalLM.from_pretrained(SHIPPED).eval()
    tok = AutoTokenizer.from_pretrained(SHIPPED)
    task_list = tasks.generate_tasks("eval", 40, 0)
    rows = [tok(t.starter())["input_ids"] for t in task_list]
    out = decode_batch(
        model,
        rows,
        [Decoding(0.0)],
        max_tokens=200,
        stop_ids=[tok.eos_token_id],
        pad_id=tok.pad_token_id,
        generator=torch.Generator().manual_seed(0),
    )
    solved = [_passes(t, tok.decode(ids)) for t, (ids, _) in zip(task_list, out, strict=True)]
    plain = [s for s, t in zip(solved, task_list, strict=True) if t.n_traps == 0]
    trapped = [s for s, t in zip(solved, task_list, strict=True) if t.n_traps > 0]
    assert plain and trapped
    assert sum(plain) >= 0.8 * len(plain)
    assert sum(trapped) <= 0.1 * len(trapped)
