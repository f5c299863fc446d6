"""Saving and loading a model: one skops file whose sha256 is the model version.

The file holds {"format", "lr", "booster", "catboost", "trained_ids", "meta"}: the logistic
regression pipeline (or None), LightGBM's own text model (or None; parsed by LightGBM, never
unpickled), CatBoost's own binary model (or None; bytes parsed by CatBoost, never unpickled), the
hashes of the customers the model was fitted on (uint64 array) and the metadata as a JSON string.
`load_model` checks the hash before parsing anything and loads with an explicit allow-list of
types (never `trusted=True`).
"""
from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path

import lightgbm as lgb
import numpy as np
import skops.io as sio
from sklearn.pipeline import Pipeline

from . import catboost_part
from .core import ModelIntegrityError, TrainedModel

FORMAT = "churn_workbench.model/3"
READABLE_FORMATS = ("churn_workbench.model/2", FORMAT)  # /2: before CatBoost, no "catboost" part
# Types inside our artefacts that skops does not trust by default. Loading passes exactly this
# list; a file that needs anything else is refused before it is deserialised.
TRUSTED_TYPES = (
    "numpy.dtype",
)
META_FIELDS = ("algorithm", "feature_columns", "numeric_columns", "categorical_columns", "categories", "weights",
               "calibrator", "metrics", "candidates", "curves", "train_summary", "lr_mean", "sensitive_columns")


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if not math.isfinite(float(value)) else float(value)
    if isinstance(value, (np.bool_,)):
        return bool(value)
    return value


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _skops_version() -> str:
    from importlib.metadata import version
    return version("skops")


def save_model(model: TrainedModel, directory: str | Path) -> tuple[Path, str]:
    """Write the model as one skops file named by its content hash; returns (path, sha256).
    The out-of-fold rows are not saved."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    meta = {name: getattr(model, name) for name in META_FIELDS}
    meta["skops_version"] = getattr(sio, "__version__", None) or _skops_version()
    booster = model.booster.model_to_string() if model.booster is not None else None
    trained_ids = None if model.trained_ids is None else np.asarray(model.trained_ids, dtype=np.uint64)
    catboost = catboost_part.to_bytes(model.catboost) if model.catboost is not None else None
    data = sio.dumps({"format": FORMAT, "lr": model.lr, "booster": booster, "catboost": catboost, "trained_ids": trained_ids,
                      "meta": json.dumps(_jsonable(meta), sort_keys=True, allow_nan=False)})
    digest = _sha256(data)
    path = directory / f"churn_model_{digest[:12]}.skops"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path, digest


def load_model(path: str | Path, expected_sha256: str) -> TrainedModel:
    """Load a model saved by `save_model`, refusing anything but the registered file.

    The file's sha256 must equal `expected_sha256` (the model version in the registry), and every
    type in it must be in TRUSTED_TYPES. Raises ModelIntegrityError otherwise.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelIntegrityError(f"{path}: model file not found (registered sha256 {expected_sha256})")
    data = path.read_bytes()
    actual = _sha256(data)
    if actual != str(expected_sha256).strip().lower():
        raise ModelIntegrityError(
            f"{path}: sha256 {actual} does not match the registered model version {expected_sha256}; "
            "the file was modified or replaced, refusing to load it (retrain, or restore the registered file)"
        )
    try:
        untrusted = sio.get_untrusted_types(data=data)
    except Exception as exc:
        raise ModelIntegrityError(f"{path}: not a readable skops model file ({type(exc).__name__})") from exc
    unexpected = sorted(set(untrusted) - set(TRUSTED_TYPES))
    if unexpected:
        raise ModelIntegrityError(f"{path}: contains types outside the allow-list ({', '.join(unexpected[:5])}); refusing to load it")
    payload = sio.loads(data, trusted=list(TRUSTED_TYPES))
    if not isinstance(payload, dict) or payload.get("format") not in READABLE_FORMATS:
        raise ModelIntegrityError(f"{path}: not a churn_workbench model file (format {FORMAT} expected)")
    lr, booster = payload.get("lr"), payload.get("booster")
    if lr is not None and not isinstance(lr, Pipeline):
        raise ModelIntegrityError(f"{path}: the logistic regression part is not a scikit-learn Pipeline")
    if booster is not None and not isinstance(booster, str):
        raise ModelIntegrityError(f"{path}: the LightGBM part is not a text model")
    catboost = payload.get("catboost")
    if catboost is not None and not isinstance(catboost, bytes):
        raise ModelIntegrityError(f"{path}: the CatBoost part is not a CatBoost binary model")
    trained_ids = payload.get("trained_ids")
    if trained_ids is not None and not (isinstance(trained_ids, np.ndarray) and trained_ids.dtype == np.uint64):
        raise ModelIntegrityError(f"{path}: the training-customer fingerprints are not a uint64 array")
    meta = json.loads(payload["meta"])
    return TrainedModel(**{name: meta.get(name) for name in META_FIELDS if name in meta}, trained_ids=trained_ids,
                        lr=lr, booster=lgb.Booster(model_str=booster) if booster else None,
                        catboost=catboost_part.from_bytes(catboost) if catboost else None, oof=None)
