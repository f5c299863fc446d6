# Quick start: `make run`, then `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup run test dashboard lab bench bench-llm bench-pii verify clean

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

# Voila reads voila.json from the project root; the offline template lives in share/jupyter.
dashboard: $(STAMP)
	JUPYTER_PATH=$(CURDIR)/share/jupyter $(VENV)/bin/voila notebooks/dashboard.ipynb --Voila.ip=127.0.0.1 --port=8866

# No news, update checks or extension-manager calls: nothing leaves the machine.
lab: $(STAMP)
	$(VENV)/bin/jupyter lab --ServerApp.ip=127.0.0.1 --ServerApp.port=8888 --ServerApp.root_dir=$(CURDIR) \
	  --LabApp.default_url=/lab/tree/notebooks --LabApp.news_url=None \
	  --LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate --LabApp.extension_manager=readonly \
	  $(if $(filter 0,$(shell id -u)),--allow-root)

bench: $(STAMP)
	$(PY) bench/run_bench.py

bench-llm: $(STAMP)
	$(PY) bench/llm_bench.py

# Anonymizer: recall per category, precision, utility, Presidio side-by-side, throughput;
# rewrites the figures in docs/pii_evaluation.md. PII_BASELINE=<an older checkout's lib/> times
# that anonymizer back to back with this one.
bench-pii: $(STAMP)
	$(PY) bench/pii_eval.py --write-docs $(if $(PII_BASELINE),--baseline-lib $(PII_BASELINE))

clean:
	rm -rf $(VENV) audit data/*.duckdb data/*.duckdb.wal data/*.lock data/snapshot data/models .pytest_cache test-output
