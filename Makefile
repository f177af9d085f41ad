# Sievert: the targets mirror the test tiers (unit, integration, e2e, browser, lint) plus the local stack.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
VENV := .venv/bin
STACK_ENV := eval "$$(bash scripts/stack.sh env)"
PYTEST := $(VENV)/pytest -p no:cacheprovider

.PHONY: install up down status demo console unit integration e2e browser lint test bench fuzz chaos

install:
	@bash scripts/bootstrap.sh

up: install
	@bash scripts/stack.sh up

down:
	@bash scripts/stack.sh down

status:
	@bash scripts/stack.sh status

demo: up
	@$(STACK_ENV) && $(VENV)/python scripts/demo.py

console: up
	@$(STACK_ENV) && $(VENV)/python scripts/console.py

lint: install
	$(VENV)/ruff check .
	$(VENV)/ruff format --check .
	$(VENV)/mypy

unit: install
	@bash scripts/promtool.sh
	$(PYTEST) tests/unit -q

integration: up
	$(STACK_ENV) && $(PYTEST) tests/integration -q

e2e: up
	$(STACK_ENV) && $(PYTEST) tests/e2e -q

browser: up
	@bash scripts/browser.sh
	$(STACK_ENV) && $(PYTEST) tests/browser -q

test: lint unit integration e2e browser

# schemathesis over the four OpenAPI documents and malformed MLLP frames, fixed seed, >=5,000 cases
# per service (docs/reliability.md); fails on any 5xx, undocumented answer, crash or hang.
fuzz: up
	$(STACK_ENV) && $(VENV)/python scripts/fuzz.py

bench: up
	$(STACK_ENV) && $(VENV)/python bench/run_all.py

# The long pipeline fault run (docs/reliability.md); e.g. CHAOS_ARGS="--restart-dependencies" on a
# stack nobody else is using.
chaos: up
	$(STACK_ENV) && $(VENV)/python scripts/chaos.py $(CHAOS_ARGS)
