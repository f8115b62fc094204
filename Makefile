# Tauro developer tasks. Everything runs from the in-repo .venv that `make setup` maintains
# (scripts/setup.sh: idempotent and quick once done). Extra pytest options: PYTEST_ARGS="...".

SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
PYTHON := $(VENV)/bin/python
PYTEST := $(VENV)/bin/pytest
RUFF := $(VENV)/bin/ruff

# The whole suite always runs (no -x/--maxfail); the exit code is pytest's, except that
# "no tests collected" (5) counts as success so a filtered or young suite does not fail.
PYTEST_FLAGS ?= --strict-markers --durations=10
PYTEST_ARGS ?=
KAFKA_ARGS ?=

define run_pytest
	@set +e; $(PYTEST) $(PYTEST_FLAGS) $(1) $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make: no tests collected, nothing to fail"; exit 0; fi; \
	exit $$rc
endef

.PHONY: help setup test test-fast lint demo kafka bench clean distclean

help:
	@echo "make setup      .venv, editable install, pinned jars from Maven Central (idempotent)"
	@echo "make test       the whole test suite (Spark local[2], real Kafka broker; set-up --browser)"
	@echo "make test-fast  tests not marked spark or kafka"
	@echo "make lint       ruff check"
	@echo "make demo       tauro run --profile dev in example_project/"
	@echo "make kafka      a local Kafka broker in the foreground (KAFKA_ARGS='--port 0 --topic t:3')"
	@echo "make bench      every bench/*.py"
	@echo "make clean      caches and generated files (distclean: also .venv and .stamps)"

setup:
	@scripts/setup.sh

# `make test` also asks set-up for the headless chromium of the docs page tests.
test:
	@scripts/setup.sh --browser
	$(call run_pytest,tests)

test-fast: setup
	$(call run_pytest,tests -m "not spark and not kafka")

lint: setup
	$(RUFF) check .

demo: setup
	cd example_project && ../$(VENV)/bin/tauro run --profile dev

kafka: setup
	@$(PYTHON) tests/support/kafka_broker.py $(KAFKA_ARGS)

bench: setup
	@shopt -s nullglob; files=(bench/*.py); failed=0; \
	if [ $${#files[@]} -eq 0 ]; then echo "make: no bench/*.py"; exit 0; fi; \
	for f in "$${files[@]}"; do \
		echo "== $$f"; \
		$(PYTHON) "$$f" || { echo "make: $$f failed"; failed=1; }; \
	done; \
	exit $$failed

clean:
	rm -rf .pytest_cache .ruff_cache build spark-warehouse metastore_db derby.log bench/work \
		example_project/target example_project/spark-warehouse
	find . -path ./$(VENV) -prune -o \( -name __pycache__ -o -name '*.egg-info' \) -type d -print0 \
		| xargs -0 rm -rf

distclean: clean
	rm -rf $(VENV) .stamps
