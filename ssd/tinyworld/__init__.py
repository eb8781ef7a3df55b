"""The tiny world: synthetic code problems, a noisy corpus and a tiny Llama trained on it.

Modules: ``tasks`` (problems, styles, tests, family split), ``corpus`` (lock tails, trap forks),
``tokenizer`` (word-level, code-aware), ``build`` (the pretraining command), ``benchmark``
(problems and SSD prompts for the pipeline). The shipped base model: ``ssd/data/tinyworld/base``.
"""
