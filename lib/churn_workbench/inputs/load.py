"""Everything a run reads, read and checked before anything touches the database: the
customers, feedback and consent files with their data config, or the synthetic generator's
tables. The ingest stage stores what this returns; the command line and a notebook run by hand
call it first to refuse bad input before their first write."""
from __future__ import annotations

import pandas as pd

from .. import synthetic
from ..boundary.allow_words import check as allow_words_check
from .consent import consent_from_column, read_consent
from .customers import CustomerTable, read_customers, type_customers
from .dataconfig import DataConfig, load_data_config
from .feedback import read_feedback

# The generator's customers have an age: declared sensitive, as a user's data config would.
SYNTHETIC_CONFIG = DataConfig(sensitive_columns=("age",))


def load_inputs(synthetic_n: int, seed: int, customers_path: str, feedback_path: str,
                consent_path: str, data_config_path: str,
                consent_stored: bool = False) -> tuple[CustomerTable, pd.DataFrame, pd.DataFrame]:
    """Read and validate everything before touching the database; raises InputError.

    consent_stored: the consent file is the one the store already holds every record of (same
    sha256, same import filters): it is not read again (the register only ever appends records
    it lacks, so reading it would add nothing)."""
    if customers_path:
        cfg = load_data_config(data_config_path or None)
        table = read_customers(customers_path, cfg)
        # The owner's allow-list may never name a person's data (it would let exactly that leave).
        allow_words_check(cfg.allow_words, table.frame, table.roles, cfg.source, str(customers_path))
        feedback = (read_feedback(feedback_path, cfg.encoding, on_long_text="reject") if feedback_path
                    else _empty_feedback())
        consent = read_consent(consent_path, cfg.encoding) if consent_path and not consent_stored \
            else _empty_consent()
        if "consent" in table.roles.values():
            consent = pd.concat([consent, consent_from_column(table)], ignore_index=True)
    else:
        data = synthetic.generate(int(synthetic_n), int(seed))
        table = type_customers(data.customers, SYNTHETIC_CONFIG, "synthetic")
        feedback, consent = data.feedback, data.consent
    return table, feedback, consent


def _empty_feedback() -> pd.DataFrame:
    return pd.DataFrame({"feedback_id": pd.Series(dtype="string"), "customer_id": pd.Series(dtype="string"),
                         "text": pd.Series(dtype="string"), "created_at": pd.Series(dtype="datetime64[ns]"),
                         "channel": pd.Series(dtype="string")})


def _empty_consent() -> pd.DataFrame:
    return pd.DataFrame({"customer_id": pd.Series(dtype="string"), "purpose": pd.Series(dtype="string"),
                         "granted": pd.Series(dtype="bool"), "recorded_at": pd.Series(dtype="datetime64[ns]"),
                         "source": pd.Series(dtype="string")})
