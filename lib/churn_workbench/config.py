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
    # LLM request engine (docs/llm.md "Settings"); a profile (llm/profiles.py) presets several.
    llm_max_completion_tokens: int = 2048   # cap on max_tokens of one request
    llm_temperature: float | None = 0.0     # sent with every request; None = the server's default
    llm_seed: int | None = 7                # sent with every request; None = not sent
    llm_response_format: str = "auto"       # auto | json_schema | json_object | text
    llm_fallback_threshold: float = 0.5     # stage fails if a larger share of sent items fell back
    llm_profile: str = ""                   # "" or a name in llm/profiles.py (e.g. local-cpu)


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
    values.update({k: v for k, v in overrides.items() if v is not None})
    # LLM request engine settings (docs/llm.md); then the profile fills what is not set explicitly.
    for key, name, cast in (("llm_max_completion_tokens", "WORKBENCH_LLM_MAX_COMPLETION_TOKENS", int),
                            ("llm_temperature", "WORKBENCH_LLM_TEMPERATURE", float),
                            ("llm_seed", "WORKBENCH_LLM_SEED", int),
                            ("llm_response_format", "WORKBENCH_LLM_RESPONSE_FORMAT", str),
                            ("llm_fallback_threshold", "WORKBENCH_LLM_FALLBACK_THRESHOLD", float),
                            ("llm_profile", "WORKBENCH_LLM_PROFILE", str)):
        raw = os.environ.get(name)
        if raw is not None and overrides.get(key) is None:
            if cast is str:
                values[key] = raw.strip().lower() or Settings.__dataclass_fields__[key].default
            else:  # "" or "none": not sent (temperature, seed)
                values[key] = None if raw.strip().lower() in ("", "none") else cast(raw)
    from .llm.profiles import apply_profile

    values = apply_profile(values, overrides)
    for key in ("db_path", "audit_dir", "subject_key_file"):
        values[key] = Path(values[key]).resolve()
    if not 0 <= values["medium_threshold"] <= values["high_threshold"] <= 1:
        raise ValueError("thresholds must satisfy 0 <= medium <= high <= 1")
    return Settings(**values)
