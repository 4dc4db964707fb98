# Lianjie: `make run` starts the stack with a demo county; `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: install run test test-deep lint pytest fault-stress bench clean console console-check lock

# The console's browser app: npm packages (package-lock.json) and a vite build, redone only
# when its sources change; nothing is fetched at run time.
WEB := services/console/web
NPM_STAMP := $(WEB)/node_modules/.installed
WEB_SOURCES := $(shell find $(WEB)/src -type f 2>/dev/null) $(wildcard $(WEB)/*.ts $(WEB)/*.json $(WEB)/*.html)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev,bench]'
	rm -f $(VENV)/.installed-*
	touch $@

install: $(STAMP)

$(NPM_STAMP): $(WEB)/package.json $(WEB)/package-lock.json
	cd $(WEB) && npm ci --no-audit --no-fund
	touch $@

$(WEB)/dist/index.html: $(NPM_STAMP) $(WEB_SOURCES)
	cd $(WEB) && npx vite build
	touch $@

console: $(WEB)/dist/index.html

console-check: $(NPM_STAMP)
	cd $(WEB) && npx vue-tsc --noEmit -p tsconfig.json
	cd $(WEB) && npx eslint --max-warnings 0 src

run: install console
	@echo "Console 控制台: http://127.0.0.1:8000"
	$(BIN)/lianjie up --demo

lint: install console-check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy shared services cli bench

# PostgreSQL for the tests: as given, or found by the probe (none: the SQLite half runs).
# Bytecode is cached even where the environment says not to (PYTHONDONTWRITEBYTECODE): the
# suite starts its services as processes hundreds of times, each compiling the project anew.
TEST_ENV := PYTHONDONTWRITEBYTECODE= LIANJIE_TEST_POSTGRES_URL="$${LIANJIE_TEST_POSTGRES_URL-$$($(BIN)/python -m tests.postgres_probe)}"

# Two xdist workers by default: much of the suite waits on the processes it starts, on
# PostgreSQL and on NATS timeouts (the load average stayed at 1 to 3 on 2 cores with one
# worker). On a quiet fresh clone of the same code: one worker 22m17s of pytest, two 16m27s.
# (Three took longer than one in an earlier round, on a machine already loaded by others.)
# Each worker takes its own ports, and `--dist loadgroup` keeps the tests sharing a stack
# (xdist_group marks, tests/conftest.py) on one worker; the fault tests run one at a time.
# `make test PYTEST_WORKERS=0` runs in one process.
PYTEST_WORKERS ?= 2
pytest: install console
	$(TEST_ENV) $(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

# The linters run beside the tests, not before them: they take a minute of a fresh clone's
# `make test`, and the tests wait on processes they start for much of theirs. Either failing
# fails `make test`.
test: install
	$(MAKE) --no-print-directory -j2 lint pytest

# Everything `make test` runs, with the property and fuzz tests' full example counts (`make test`
# runs fewer: tests/conftest.py's `examples`): for a nightly run, or before a release.
test-deep:
	LIANJIE_FUZZ=deep $(MAKE) --no-print-directory test

# The fault tests on a machine made busy on purpose (CPU, fsynced disk writes, memory held and
# touched): see tests/faults/stress.py; `make fault-stress ARGS="--cpu 6 -- tests/faults -x"`.
fault-stress: install
	$(TEST_ENV) $(BIN)/python -m tests.faults.stress $(ARGS)

# The image's dependencies, pinned with hashes (Dockerfile): base for needs/resources, matcher.
LOCK := $(BIN)/uv pip compile pyproject.toml --generate-hashes --python-version 3.11 \
	--python-platform x86_64-manylinux_2_28 --no-header -q
lock: install
	$(LOCK) -o requirements/base.lock
	$(LOCK) --extra matcher -o requirements/matcher.lock

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache $(WEB)/node_modules $(WEB)/dist
