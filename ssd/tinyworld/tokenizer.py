"""A word-level, code-aware tokenizer built by the project (no download, no training run).

Pieces: a newline, a four-space indent, and words / numbers / operators with an optional leading
space (``" x"``, ``" >="``). Decoding concatenates pieces, so ``decode(encode(text)) == text`` for
any text made of known pieces. The vocabulary is the set of pieces in a corpus plus specials.

Run the tests: ``pytest tests/test_tinyworld.py -k tokenizer``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

EOS, PAD, UNK = "<eos>", "<pad>", "<unk>"
PIECE = r"""\n|    | ?[A-Za-z_][A-Za-z_0-9]*| ?\d+| ?(?:==|>=|<=|\+=|\"\"\")| ?[^\sA-Za-z_0-9]| +"""
_PIECE_RE = re.compile(PIECE)


def pieces(text: str) -> list[str]:
    """Split text into pieces; raises if some character is not covered (never silently lost)."""
    out = _PIECE_RE.findall(text)
    if "".join(out) != text:
        raise ValueError(f"text has characters the tokenizer does not cover: {text!r}")
    return out


def build_tokenizer(texts: Iterable[str]) -> PreTrainedTokenizerFast:
    """A fast tokenizer whose vocabulary is every piece of ``texts`` (sorted, specials first)."""
    vocab_set: set[str] = set()
    for text in texts:
        vocab_set.update(pieces(text))
    vocab = {tok: i for i, tok in enumerate([PAD, EOS, UNK, *sorted(vocab_set)])}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(PIECE), behavior="isolated")
    tok.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token=EOS, pad_token=PAD, unk_token=UNK, padding_side="left"
    )
