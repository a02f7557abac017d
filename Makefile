# The two commands: `make demo` runs the pipeline on the embedded default; `make test` runs every check,
# starting the real services the tests need (PostgreSQL, Kafka). Downloads are cached outside the clone.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint pytest services bench serve clean

demo: $(STAMP)
	$(BIN)/ewarn demo

test: $(STAMP) lint services pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts
	$(BIN)/mypy

services: $(STAMP)
	$(BIN)/python scripts/services.py prepare

pytest: $(STAMP)
	$(BIN)/pytest -p no:cacheprovider -n 2 --dist loadfile

bench: $(STAMP) services
	$(BIN)/python bench/run_all.py

serve: $(STAMP)
	$(BIN)/ewarn serve

# Installs the pinned, tested versions (requirements-dev.lock, written by scripts/lock.py), then ewarn itself.
$(STAMP): pyproject.toml requirements-dev.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
