# Lianjie: `make run` starts the stack with a demo county; `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: install run test lint pytest bench clean lock

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev,bench]'
	rm -f $(VENV)/.installed-*
	touch $@

install: $(STAMP)

run: install
	$(BIN)/lianjie up --demo

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy shared services cli

pytest: install
	LIANJIE_TEST_POSTGRES_URL="$${LIANJIE_TEST_POSTGRES_URL-$$($(BIN)/python -m tests.postgres_probe)}" \
		$(BIN)/pytest

test: lint pytest

# The image's dependencies, pinned with hashes (Dockerfile): base for needs/resources, matcher.
LOCK := $(BIN)/uv pip compile pyproject.toml --generate-hashes --python-version 3.11 \
	--python-platform x86_64-manylinux_2_28 --no-header -q
lock: install
	$(LOCK) -o requirements/base.lock
	$(LOCK) --extra matcher -o requirements/matcher.lock

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
