# The template's own workflow. Run `make` to list the targets.
.DEFAULT_GOAL := help
PYTHON ?= python3
VENV := .venv
UV := $(VENV)/bin/uv
UV_VERSION := 0.13.8

.PHONY: help setup postgres lambda-adapter demo test test-lambda lint fmt bench

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

setup: $(VENV)/.synced node_modules/.installed postgres lambda-adapter ## Install the dev tools (uv, copier, pytest, the MCP Inspector, PostgreSQL, the Lambda Web Adapter)

# pip bootstraps uv once; from then on uv keeps .venv in step with uv.lock.
$(UV):
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet uv==$(UV_VERSION)

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

# The generated database tool is tested against a real PostgreSQL server, started from the
# server binaries; Debian's postgresql package has them.
PG_CTL := $(firstword $(wildcard /usr/lib/postgresql/*/bin/pg_ctl) $(shell command -v pg_ctl))
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

postgres:
ifeq ($(PG_CTL),)
	@command -v apt-get >/dev/null || { echo "install the PostgreSQL server binaries (pg_ctl, initdb) and run make setup again"; exit 1; }
	$(SUDO) apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql
endif

# The Lambda Web Adapter the Dockerfile pins, built by cargo once into ~/.cache (a few minutes).
lambda-adapter: $(VENV)/.synced
	$(UV) run python -m tests.lambda_emulator

demo: setup ## Generate a project from this checkout, start it, and list and call its tools
	$(UV) run python -m scripts.demo

test: lint ## Lint, then run every test (generation, generated projects, real clients, update)
	$(UV) run pytest

test-lambda: setup ## Only the Lambda request path: events through the emulator and the real adapter
	$(UV) run pytest tests/test_lambda.py

lint: setup ## Check the template's own Python code
	$(UV) run ruff check scripts tests bench
	$(UV) run ruff format --check scripts tests bench

fmt: setup ## Format the template's own Python code
	$(UV) run ruff check --fix --exit-zero scripts tests bench
	$(UV) run ruff format scripts tests bench

bench: setup ## Cold start as Lambda pays it, peak memory, warm tools/call and a soak with auth on, against baselines (BENCH_ARGS="--before DIR")
	$(UV) run python -m bench.cold_start $(BENCH_ARGS)
	$(UV) run python -m bench.warm_requests --project build/bench/project $(BENCH_ARGS)
	$(UV) run python -m bench.soak --project build/bench/project
