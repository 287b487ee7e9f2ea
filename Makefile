# Passerelle — two commands do everything: `make run` and `make test`.
# Both create and use a local virtualenv in .venv (override with VENV=...).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint typecheck unit schemas tables bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

# The engine on routes.yaml, with the local FHIR platform and DMP endpoint (docs/sandbox.md).
run: $(STAMP)
	$(BIN)/passerelle run --sandbox -c routes.yaml

test: $(STAMP) lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/python -m pytest -q

schemas: $(STAMP)
	$(BIN)/passerelle schema --out schemas

# Regenerate mappings/tables/xds_*.yaml from the ANS NOS exports (NOS=folder of the files).
NOS ?= ../shared/corpus/nos
tables: $(STAMP)
	$(BIN)/passerelle tables import --from $(NOS)

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) var .mypy_cache .pytest_cache .ruff_cache
