"""The data contract a model belongs to: the columns it reads, in which roles and kinds, and a
fingerprint of the population it was trained on.

A model is only ever compared with, replaced by, or run on data of its own contract. The contract
id is a sha256 over the schema: every feature column with its kind (numeric or categorical) and
the sensitive columns (which the model card reports on). Two imports with the same columns share
a contract, so a monthly refresh of the same table continues the same model line; a table with
other columns (another dataset, a changed export) starts a new line.

The population fingerprint (customers, labelled customers, churn rate, a sha256 of the sorted
customer-id hashes) is recorded beside the schema for lineage. It is not part of the id: every
refresh changes it, and a model line must survive refreshes.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .core import id_hashes
from .prep import split_columns

CONTRACT_FORMAT = 1


@dataclass(frozen=True)
class DataContract:
    """features: column -> "numeric" | "categorical". sensitive: column names (never features).
    population: {"customers", "labelled", "churn_rate", "ids_sha256"} (lineage, not identity)."""

    features: dict[str, str]
    sensitive: tuple[str, ...] = ()
    population: dict = field(default_factory=dict, compare=False)

    @property
    def contract_id(self) -> str:
        schema = {"format": CONTRACT_FORMAT, "features": sorted(self.features.items()),
                  "sensitive": sorted(self.sensitive)}
        return hashlib.sha256(json.dumps(schema, sort_keys=True).encode()).hexdigest()

    @property
    def short_id(self) -> str:
        return self.contract_id[:12]

    def describe(self, examples: int = 4) -> str:
        """'19 feature columns (Contract, tenure, MonthlyCharges, … ; 4 numeric, 15 categorical)'."""
        names = [c for c in self.features if not c.startswith(("fb_", "topic_"))] or list(self.features)
        numeric = sum(kind == "numeric" for kind in self.features.values())
        shown = ", ".join(names[:examples]) + (", …" if len(names) > examples else "")
        return (f"{len(self.features)} feature columns ({shown}; {numeric} numeric, "
                f"{len(self.features) - numeric} categorical)")

    def missing_in(self, columns) -> list[str]:
        """The contract's feature columns that `columns` lacks, in contract order."""
        present = set(columns)
        return [c for c in self.features if c not in present]

    def to_json(self) -> str:
        return json.dumps({"format": CONTRACT_FORMAT, "contract_id": self.contract_id, "features": self.features,
                           "sensitive": list(self.sensitive), "population": self.population}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "DataContract":
        data = json.loads(text)
        return cls(features=dict(data["features"]), sensitive=tuple(data.get("sensitive") or ()),
                   population=dict(data.get("population") or {}))


def of_frame(X: pd.DataFrame, sensitive=(), y: pd.Series | None = None) -> DataContract:
    """The contract of a feature frame (index customer_id; columns as `load_feature_frame` reads
    them, before training drops blank, constant or leaking columns: the contract is the data's,
    not one fit's). y: labels indexed like X (NaN = unknown), for the population fingerprint."""
    numeric, _ = split_columns(X)
    kinds = {c: "numeric" if c in set(numeric) else "categorical" for c in X.columns}
    population = {"customers": int(len(X))}
    if y is not None:
        labelled = y.reindex(X.index).notna().to_numpy()
        population.update(labelled=int(labelled.sum()),
                          churn_rate=round(float(pd.to_numeric(y.reindex(X.index)[labelled]).mean()), 5)
                          if labelled.any() else None,
                          ids_sha256=hashlib.sha256(np.sort(id_hashes(X.index[labelled])).tobytes()).hexdigest())
    return DataContract(features=kinds, sensitive=tuple(sensitive), population=population)
