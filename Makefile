# Two commands do all set-up on a fresh machine:
#   make demo   creates .venv, installs Isthmus, runs the demo on embedded defaults
#               (make demo KEEP=1: the nodes keep running; it prints the console's link)
#   make test   creates .venv with the dev extras, installs what tests need, runs everything
# and one to install elsewhere:
#   make dist   builds the sdist and the wheel into dist/ (docs/operator-guide.md)
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip

.PHONY: demo test lint dist check-python clean

check-python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Isthmus needs Python 3.11 or newer; set PYTHON=")'

$(VENV)/.runtime: pyproject.toml constraints.txt | check-python
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -c constraints.txt -e .
	touch $@

$(VENV)/.dev: pyproject.toml constraints.txt | check-python
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -c constraints.txt -e '.[dev]'
	touch $(VENV)/.runtime $@

# The build front end and back end only, pinned by constraints.txt: a wheel needs neither
# the runtime dependencies nor the dev extras, and builds offline once they are installed.
$(VENV)/.build: constraints.txt | check-python
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -c constraints.txt build hatchling
	touch $@

dist: $(VENV)/.build
	rm -rf dist
	$(PY) -m build --no-isolation --outdir dist .

# KEEP=1 leaves the demo's nodes running and ends by printing the console's sign-in link.
demo: $(VENV)/.runtime
	ISTHMUS_DEMO_KEEP=$(KEEP) $(PY) scripts/demo.py

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check src tests benchmarks scripts
	$(VENV)/bin/ruff format --check src tests benchmarks scripts
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

# Two pytest-xdist workers, one test file each at a time (module-scoped node clusters stay
# in one worker): the suite waits on node and peer processes half the time, so a second
# worker fills the other core. TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= 2

test: $(VENV)/.dev lint
	bash scripts/ensure-postgres.sh
	bash scripts/ensure_chromium.sh
	$(VENV)/bin/pytest -n $(TEST_WORKERS) --dist loadfile

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis demo-run quickstart dist
