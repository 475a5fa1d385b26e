"""Training from scratch and TASER fine-tuning: configs, presets and the resumable loop."""

from taser_engine.training.config import FinetuneConfig, TrainConfig, format_errors
from taser_engine.training.loop import RunMismatchError, clean_accuracy, finetune, fit_gaussian_score, train
from taser_engine.training.presets import PRESETS, finetune_preset, train_preset

__all__ = [
    "FinetuneConfig", "PRESETS", "RunMismatchError", "TrainConfig", "clean_accuracy", "finetune",
    "finetune_preset", "fit_gaussian_score", "format_errors", "train", "train_preset",
]
