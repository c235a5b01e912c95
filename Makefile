# make train | make test | make test-all | make lint | make format | make clean
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

export WANDB_MODE ?= offline
export PYTHONUNBUFFERED := 1

.PHONY: setup train test test-all lint format bench bench-keops clean

# (Re)install when the venv is missing or pyproject.toml changed.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

train: $(STAMP)  ## default run: MLP on digits, W&B offline + CSV, ~1 min on 2 CPU cores
	$(PY) train.py $(ARGS)

test: $(STAMP)  ## fast suite (CI)
	$(PY) -m pytest -m "not slow" $(ARGS)

test-all: $(STAMP)  ## everything, slow tests and notebooks included
	$(PY) -m pytest $(ARGS)
	$(PY) -m pytest --nbmake notebooks

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(STAMP)
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

bench: $(STAMP)  ## dense benchmarks (minutes); the KeOps ones are `make bench-keops` (hours)
	@for b in benchmarks/mlp.py benchmarks/kernels.py benchmarks/solvers.py; do \
		echo "== $$b"; $(PY) $$b || exit 1; done

bench-keops: $(STAMP)  ## KeOps products at n=100k and the L=6 KeOps GP (see benchmarks/README.md)
	$(PY) benchmarks/kvp.py
	$(PY) benchmarks/gp_keops.py

clean:
	rm -rf logs .pytest_cache .ruff_cache
