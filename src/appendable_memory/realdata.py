"""Real data that ships inside an installed package (scikit-learn's bundled datasets: nothing is
downloaded), the label-free encoder that turns it into keys, and the digits' split into *base*
classes (meta-training episodes, tasks.base_episode_batch) and held-out *novel* classes (their
test, fewshot.py): the usual meta-learning route, which fewshot.py compares with networks that
only ever saw random numbers.

    digits          1,797 real 8x8 scans of handwritten digits (64 floats), 10 classes
    wine            178 chemical analyses of wines (13 floats), 3 cultivars
    breast-cancer   569 measurements of cell nuclei in scans of breast masses (30 floats), benign / malignant
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
from torch import Tensor

DATASETS = {"digits": "load_digits", "wine": "load_wine", "breast-cancer": "load_breast_cancer"}  # name: sklearn.datasets loader
BASE_CLASSES = (0, 1, 2, 3, 4)  # meta-training draws episodes from these digits only
NOVEL_CLASSES = (5, 6, 7, 8, 9)  # ... and is tested on these, never seen in training


def load_dataset(name: str) -> tuple[Tensor, Tensor]:
    """A bundled dataset: inputs [n, F] float32, labels [n] int64 (0..classes-1)."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    import sklearn.datasets  # the data is read from scikit-learn's installed files

    data = getattr(sklearn.datasets, DATASETS[name])()
    return torch.from_numpy(data.data.astype(np.float32)), torch.from_numpy(data.target.astype(np.int64))


def load_digits_data() -> tuple[Tensor, Tensor]:
    """scikit-learn's bundled digits: images [1797, 64] float32 (0..16), labels [1797] int64."""
    return load_dataset("digits")


class KeyEncoder:
    """Inputs -> keys, label-free: standardise each input float, project onto the ``dims`` first
    principal components, whiten them (unit variance each), then place them where a network's
    keys lie: ``centre + spread * z`` (default: the kv networks' uniform [0, 9): centre 4.5,
    spread 9 / sqrt(12), its standard deviation). Inputs of fewer than ``dims`` floats give that
    many components; the key's remaining floats hold the centre."""

    def __init__(self, dims: int = 16, centre: float = 4.5, spread: float = 9 / math.sqrt(12)):
        self.dims, self.centre, self.spread = dims, centre, spread

    def fit(self, inputs: Tensor) -> KeyEncoder:
        """inputs [n, F] (no labels)."""
        x = inputs.double()
        self.mean = x.mean(0)
        self.scale = x.std(0).clamp_min(1e-6)  # constant inputs (the digits' corners) stay zero
        z = (x - self.mean) / self.scale
        _, singular, vt = torch.linalg.svd(z, full_matrices=False)
        self.components = vt[: self.dims].T  # [F, min(dims, F)]
        self.std = singular[: self.dims] / math.sqrt(x.shape[0] - 1)
        return self

    def transform(self, inputs: Tensor) -> Tensor:
        """inputs [.., F] -> keys [.., dims] float32."""
        if not hasattr(self, "components"):
            raise ValueError("KeyEncoder.fit(inputs) first: the encoder is fitted on unlabelled inputs")
        z = ((inputs.double() - self.mean) / self.scale) @ self.components / self.std
        z = torch.nn.functional.pad(z, (0, self.dims - z.shape[-1]))
        return (self.centre + self.spread * z).float()

    __call__ = transform


@functools.cache
def dataset_keys(name: str = "digits", dims: int = 16) -> tuple[Tensor, Tensor]:
    """Every example of a dataset as a key (the encoder fitted on all its inputs, without labels)
    [n, dims], and its label [n]."""
    inputs, labels = load_dataset(name)
    return KeyEncoder(dims).fit(inputs)(inputs), labels
