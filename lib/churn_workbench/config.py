"""Settings from the environment or `.env`.

Secrets (API keys) are read here and nowhere else; they are never passed as papermill
parameters, because papermill writes parameters into the executed notebook.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import load_dotenv

PACKAGE_DIR = Path(__file__).resolve().parent
# The project is installed editable from lib/, so the checkout root is two levels up.
PROJECT_ROOT = Path(os.environ.get("WORKBENCH_HOME", PACKAGE_DIR.parents[1])).resolve()
STAGES = ("ingest", "feedback", "train", "predict", "act")


def load_env() -> None:
    # override=False: a variable set in the real environment always wins over .env.
    load_dotenv(PROJECT_ROOT / ".env", override=False)


def _float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value not in (None, "") else default


def _int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


@dataclass(frozen=True)
class Settings:
    db_path: Path
    audit_dir: Path
    subject_key_file: Path
    llm_provider: str = "local"
    analysis_model: str | None = None
    action_model: str | None = None
    high_threshold: float = 0.6
    medium_threshold: float = 0.3
    control_share: float = 0.10
    llm_batch_size: int = 8
    llm_requests_per_minute: int = 30
    llm_tokens_per_minute: int = 6000
    llm_concurrency: int = 4
    llm_max_requests: int = 2000
    llm_max_tokens: int = 500_000
    llm_timeout_s: float = 30.0
    extra: dict = field(default_factory=dict)
    # Churn model and segments (issue 15).
    segment_high_share: float = 0.10      # "High" = this top share of customers by expected loss
    segment_medium_share: float = 0.20    # "Medium" = the next share
    segment_high_budget: int = 0          # at most this many "High" customers (0 = no cap)
    segment_value_column: str = ""        # customers column with the customer's value (expected loss = p x value)
    model_min_auc: float = 0.60           # quality floor: a model below this held-out ROC-AUC is never promoted
    model_gate_tolerance: float = 0.005   # a new model may trail the deployed one by at most this AUC
    leakage_allow_columns: tuple = ()     # columns the leakage guard must keep


def load_settings(**overrides) -> Settings:
    """Build settings from WORKBENCH_* variables (after loading `.env`), then explicit overrides."""
    load_env()
    data_dir = Path(os.environ.get("WORKBENCH_DATA_DIR", PROJECT_ROOT / "data"))
    values = dict(
        db_path=Path(os.environ.get("WORKBENCH_DB", data_dir / "workbench.duckdb")),
        audit_dir=Path(os.environ.get("WORKBENCH_AUDIT_DIR", PROJECT_ROOT / "audit")),
        subject_key_file=Path(os.environ.get("WORKBENCH_SUBJECT_KEY_FILE", data_dir / ".subject_key")),
        llm_provider=os.environ.get("WORKBENCH_LLM", "local"),
        analysis_model=os.environ.get("WORKBENCH_ANALYSIS_MODEL") or None,
        action_model=os.environ.get("WORKBENCH_ACTION_MODEL") or None,
        high_threshold=_float("WORKBENCH_HIGH_THRESHOLD", 0.6),
        medium_threshold=_float("WORKBENCH_MEDIUM_THRESHOLD", 0.3),
        control_share=_float("WORKBENCH_CONTROL_SHARE", 0.10),
        llm_batch_size=_int("WORKBENCH_LLM_BATCH_SIZE", 8),
        llm_requests_per_minute=_int("WORKBENCH_LLM_RPM", 30),
        llm_tokens_per_minute=_int("WORKBENCH_LLM_TPM", 6000),
        llm_concurrency=_int("WORKBENCH_LLM_CONCURRENCY", 4),
        llm_max_requests=_int("WORKBENCH_LLM_MAX_REQUESTS", 2000),
        llm_max_tokens=_int("WORKBENCH_LLM_MAX_TOKENS", 500_000),
        llm_timeout_s=_float("WORKBENCH_LLM_TIMEOUT", 30.0),
    )
    values.update(  # churn model and segments (issue 15)
        segment_high_share=_float("WORKBENCH_SEGMENT_HIGH_SHARE", 0.10),
        segment_medium_share=_float("WORKBENCH_SEGMENT_MEDIUM_SHARE", 0.20),
        segment_high_budget=_int("WORKBENCH_SEGMENT_HIGH_BUDGET", 0),
        segment_value_column=os.environ.get("WORKBENCH_SEGMENT_VALUE_COLUMN", ""),
        model_min_auc=_float("WORKBENCH_MODEL_MIN_AUC", 0.60),
        model_gate_tolerance=_float("WORKBENCH_MODEL_GATE_TOLERANCE", 0.005),
        leakage_allow_columns=tuple(c.strip() for c in os.environ.get("WORKBENCH_LEAKAGE_ALLOW", "").split(",") if c.strip()),
    )
    values.update({k: v for k, v in overrides.items() if v is not None})
    for key in ("db_path", "audit_dir", "subject_key_file"):
        values[key] = Path(values[key]).resolve()
    if not 0 <= values["medium_threshold"] <= values["high_threshold"] <= 1:
        raise ValueError("thresholds must satisfy 0 <= medium <= high <= 1")
    return Settings(**values)
