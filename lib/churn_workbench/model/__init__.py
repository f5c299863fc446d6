"""The churn model: training (`fit`), scoring (`core`), metrics, calibration, leakage guard,
quality gate and persistence, one module each. Import from here: `from churn_workbench import model`.
"""
from .contract import DataContract
from .core import ALGORITHMS, COMPONENTS, ModelIntegrityError, TrainedModel, id_hashes, predict_proba, raw_score
from .fit import MIN_LABELLED, MIN_PER_CLASS, TrainingError, train
from .gate import quality_gate
from .leakage import screen as leakage_screen
from .metrics import evaluate, expected_calibration_error
from .persist import FORMAT, TRUSTED_TYPES, load_model, save_model
from .prep import prepare, split_columns

__all__ = [
    "ALGORITHMS", "COMPONENTS", "DataContract", "FORMAT", "MIN_LABELLED", "MIN_PER_CLASS", "TRUSTED_TYPES", "ModelIntegrityError", "TrainedModel",
    "TrainingError", "evaluate", "expected_calibration_error", "id_hashes", "leakage_screen", "load_model", "predict_proba",
    "prepare", "quality_gate", "raw_score", "save_model", "split_columns", "train",
]
