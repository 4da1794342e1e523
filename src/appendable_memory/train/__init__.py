"""Probabilized training, step by step (the paper, arXiv 2407.20197: the key-value task).

    config.py     TrainConfig (what a run is) and the named recipes
    run_dir.py    the run directory's files, written so that a kill loses nothing
    state.py      the training state saved with each checkpoint (optimiser, memory, generators)
    schedules.py  the curriculum and the plateau learning rate
    loop.py       Trainer: the step loop, evaluation, checkpoints and rollback
"""

from .config import RECIPES, RESUMABLE_CHANGES, TrainConfig, recipe_config
from .loop import Trainer, TrainingDiverged, adam, train_step, warm_start_
from .run_dir import RunDir, environment

__all__ = ["RECIPES", "RESUMABLE_CHANGES", "RunDir", "TrainConfig", "Trainer", "TrainingDiverged", "adam", "environment", "recipe_config", "train_step", "warm_start_"]
