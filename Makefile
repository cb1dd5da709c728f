# Two commands from a fresh clone: `make demo` and `make test`. Only python3 and make are assumed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export IOP_DATA_DIR ?= $(CURDIR)/data
SIZE ?= S

.PHONY: demo test bench dev refresh full-refresh lint docs manifest report clean

# Each step says what it does; pip lists the packages as it collects them (about 1.5 minutes from
# a cold cache, most of it downloading and unpacking the pinned set).
$(STAMP): pyproject.toml requirements.lock
	@echo "==> [1/5] Virtual environment in $(VENV)"
	$(PYTHON) -m venv $(VENV)
	@echo "==> [2/5] Upgrading pip"
	$(BIN)/python -m pip install --quiet --upgrade pip
	@echo "==> [3/5] Installing the $$(grep -c '==' requirements.lock) pinned packages of requirements.lock"
	$(BIN)/python -m pip install --progress-bar on -r requirements.lock
	@echo "==> [4/5] Installing this project (editable, no dependencies)"
	$(BIN)/python -m pip install --quiet --no-deps -e '.[dev]'
	@echo "==> [5/5] Preparing the dbt manifest (target/manifest.json)"
	$(BIN)/python -m iop.dbt_project
	touch $(STAMP)
	@echo "==> Environment ready"

## The dbt manifest (target/manifest.json), from the models, seeds and macros in sql/.
manifest: $(STAMP)
	$(BIN)/python -m iop.dbt_project

## Generate sample data (about 2,000 clients), materialize every asset, print the marts' summary.
demo: $(STAMP)
	$(BIN)/iop-demo

## What the landing sensor runs, from a terminal or cron: ingest new landed files, refresh, publish
## (a run killed earlier is marked failed first; a damaged warehouse is rebuilt from raw).
refresh: $(STAMP)
	$(BIN)/iop refresh

## The same, rebuilding staging, core and marts in full (the iop_full_refresh job). A refresh is
## incremental unless a full build is due (README, What a refresh recomputes).
full-refresh: $(STAMP)
	$(BIN)/iop refresh --full

## Rebuild the outcomes report ($(IOP_DATA_DIR)/reports/latest.html) from the working database.
report: $(STAMP)
	$(BIN)/python -m iop.report

## Run the test suite, one worker per core (at most 4; pytest-xdist): 10.5-17 minutes on 2 cores,
## 3 of them the same pipeline on Spark beside DuckDB (tests/test_spark.py; skipped without Java).
test: $(STAMP)
	$(BIN)/python -m pytest -q -n auto --maxprocesses 4

## Benchmark at SIZE=S|M|L (see README, Performance).
bench: $(STAMP)
	$(BIN)/python bench/run_bench.py --size $(SIZE)

## Dagster UI with the code location from workspace.yaml. Runs log at INFO (the instance's
## dagster.yaml, python_logs); the services too (--log-level info). Demo mode (the public demo key) only on
## a data folder the generator made or with IOP_DEMO=1; otherwise IOP_PSEUDONYM_KEY is required,
## and a missing, short or changed key stops here.
dev: $(STAMP)
	$(BIN)/python -m iop.keys check
	DAGSTER_HOME=$${DAGSTER_HOME:-$(IOP_DATA_DIR)/dagster_home} ; mkdir -p $$DAGSTER_HOME ; \
	DAGSTER_HOME=$$DAGSTER_HOME $(BIN)/python -c "from pathlib import Path; from iop.runner import dagster_instance; dagster_instance(Path('$(IOP_DATA_DIR)'))" ; \
	DAGSTER_HOME=$$DAGSTER_HOME $(BIN)/dagster dev --log-level info -w workspace.yaml

## dbt's static docs site (models, columns, lineage graph) under $(IOP_DATA_DIR)/docs/. With a
## built warehouse its catalog adds row counts and compiled SQL; without one (a fresh data folder)
## the site is built from the project alone (column types from the yml docs).
# dbt opens a warehouse connection, whose plugin needs a pseudonym key: nothing is pseudonymized
# here, so the demo key stands in when none is set.
docs: $(STAMP)
	mkdir -p $(IOP_DATA_DIR)/docs
	cd $(CURDIR) && if [ -f $(IOP_DATA_DIR)/warehouse.duckdb ]; then \
	  IOP_DEMO=$${IOP_DEMO:-1} $(BIN)/dbt docs generate --static --profiles-dir . \
	    --target-path $(IOP_DATA_DIR)/docs --log-path $(IOP_DATA_DIR)/docs/logs ; \
	else \
	  echo "No warehouse in $(IOP_DATA_DIR) (make demo builds one): docs from the project only" ; \
	  $(BIN)/dbt parse --profiles-dir . \
	    --target-path $(IOP_DATA_DIR)/docs --log-path $(IOP_DATA_DIR)/docs/logs && \
	  $(BIN)/dbt docs generate --static --no-compile --empty-catalog --profiles-dir . \
	    --target-path $(IOP_DATA_DIR)/docs --log-path $(IOP_DATA_DIR)/docs/logs ; \
	fi
	@echo "Open $(IOP_DATA_DIR)/docs/static_index.html"

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) data .pytest_cache target
