# Quick start: `make run`, then `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup run test dashboard lab bench bench-llm verify clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	# A kernel spec inside the venv, so papermill's "python3" kernel is this environment.
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (churn workbench)" > /dev/null
	touch $(STAMP)

run: $(STAMP)
	$(PY) run_pipeline.py

test: $(STAMP)
	$(PY) -m pytest -q

verify: $(STAMP)
	$(PY) run_pipeline.py verify

dashboard: $(STAMP)
	$(PY) -m churn_workbench.serve_dashboard

lab: $(STAMP)
	$(VENV)/bin/jupyter lab --notebook-dir=. notebooks/

bench: $(STAMP)
	$(PY) bench/run_bench.py

bench-llm: $(STAMP)
	$(PY) bench/llm_bench.py

clean:
	rm -rf $(VENV) audit data/*.duckdb data/*.duckdb.wal data/*.lock data/snapshot data/models .pytest_cache test-output
