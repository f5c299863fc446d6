"""An option and the setting it mirrors are one value given two ways, so they meet one rule,
checked by one function, at the same moment (before any stage runs or anything is written):
a value refused as `--allow-columns` must not start a run as WORKBENCH_LEAKAGE_ALLOW.

PAIRS lists every such pair (option flag -> setting); each checker takes the label to name, the
flag or the variable, so the one-line refusal says where the value came from. The database pair
(--db, WORKBENCH_DB) goes through boundary.paths.database_file, the columns pair through
boundary.data_config.check_allow_columns (it needs the columns the run will see); the rest are here.
"""
from __future__ import annotations

from ..errors import UsageError
from ..vocab import LLM_BACKENDS, LLM_PROFILES, REGISTERED_BACKENDS
from .name_lists import comma_names

PAIRS = {
    "--db": "WORKBENCH_DB",
    "--llm": "WORKBENCH_LLM",
    "--llm-profile": "WORKBENCH_LLM_PROFILE",
    "--allow-columns": "WORKBENCH_LEAKAGE_ALLOW",
    "--control-share": "WORKBENCH_CONTROL_SHARE",
}


def check_backend(name: str, label: str) -> str:
    """An LLM backend's name (--llm, WORKBENCH_LLM, a notebook's llm_provider); "" = not given.
    A built-in backend, or one registered in code (vocab.REGISTERED_BACKENDS)."""
    known = {*LLM_BACKENDS, *REGISTERED_BACKENDS}
    if name and name not in known:
        raise UsageError(f"{label}={name}: unknown LLM backend; expected one of {', '.join(sorted(known))}")
    return name


def check_profile(name: str, label: str) -> str:
    """An LLM profile's name (--llm-profile, WORKBENCH_LLM_PROFILE); "" = none."""
    if name and name.strip().lower() not in LLM_PROFILES:
        raise UsageError(f"{label}={name}: unknown LLM profile; expected one of {', '.join(sorted(LLM_PROFILES))}")
    return name


def check_control_share(share: float, label: str) -> float:
    """The share of contactable customers held out as control (--control-share, WORKBENCH_CONTROL_SHARE)."""
    if not 0 <= share < 1:
        raise UsageError(f"{label}={share}: expected a share in [0, 1) (0.1 holds out 10%)")
    return share


def check_column_list(value: str, label: str) -> list[str]:
    """The form of a list of columns (--allow-columns, WORKBENCH_LEAKAGE_ALLOW): names separated by commas."""
    return comma_names(value, label, "column name")
