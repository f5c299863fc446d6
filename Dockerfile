# One image for the three compose services: the headless pipeline, JupyterLab and the Voilà
# dashboard. The project is installed with pip from pyproject.toml, the single dependency list.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    # the checkout root (config.PROJECT_ROOT) and Voilà's offline "workbench" template
    WORKBENCH_HOME=/app \
    JUPYTER_PATH=/app/share/jupyter \
    MPLBACKEND=Agg \
    # The signing key and the exported heads live on volumes of their own, outside data/ and audit/
    # (the workbench refuses a key inside them), so a `run --rm` container keeps them.
    WORKBENCH_SIGNING_KEY_FILE=/app/keys/signing_key.pem \
    WORKBENCH_HEADS_FILE=/app/heads/heads.jsonl

WORKDIR /app

# Dependencies first, so editing a notebook or a module does not reinstall them. The lock pins
# every version (-c: what pyproject.toml asks for is installed, at the locked version).
COPY pyproject.toml README.md requirements.lock ./
COPY lib ./lib
RUN pip install -c requirements.lock -e . \
 && python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (churn workbench)"

# What the services run, named one by one: a workspace inside the build context (a database
# beside the project, an export, an outcome file) can never be baked into the image.
COPY run_pipeline.py voila.json ./
COPY notebooks ./notebooks
COPY share ./share

# Not root: the services write only to the mounted ./data, ./audit, ./keys and ./heads.
RUN useradd --create-home --uid 1000 workbench \
 && mkdir -p /app/data /app/audit /app/keys /app/heads \
 && chown -R workbench:workbench /app/data /app/audit /app/keys /app/heads \
 && chmod 700 /app/keys
USER workbench

EXPOSE 8866 8888
CMD ["python", "run_pipeline.py"]
