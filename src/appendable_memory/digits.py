"""Real data that ships with an installed package: scikit-learn's bundled ``load_digits`` (1,797
real 8x8 scans of handwritten digits, 10 classes; nothing is downloaded), the label-free encoder
that turns them into keys, and the split into *base* classes (meta-training episodes,
tasks.base_episode_batch) and held-out *novel* classes (their test, fewshot.py): the usual
meta-learning route, which fewshot.py compares with networks that only ever saw random numbers.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
from torch import Tensor

BASE_CLASSES = (0, 1, 2, 3, 4)  # meta-training draws episodes from these digits only
NOVEL_CLASSES = (5, 6, 7, 8, 9)  # ... and is tested on these, never seen in training


def load_digits_data() -> tuple[Tensor, Tensor]:
    """scikit-learn's bundled digits: images [1797, 64] float32 (0..16), labels [1797] int64."""
    from sklearn.datasets import load_digits  # bundled with scikit-learn: read from its files

    digits = load_digits()
    return torch.from_numpy(digits.data.astype(np.float32)), torch.from_numpy(digits.target.astype(np.int64))


class KeyEncoder:
    """Inputs -> keys, label-free: standardise each input float, project onto the ``dims`` first
    principal components, whiten them (unit variance each), then place them where a network's
    keys lie: ``centre + spread * z`` (default: the kv networks' uniform [0, 9): centre 4.5,
    spread 9 / sqrt(12), its standard deviation)."""

    def __init__(self, dims: int = 16, centre: float = 4.5, spread: float = 9 / math.sqrt(12)):
        self.dims, self.centre, self.spread = dims, centre, spread

    def fit(self, inputs: Tensor) -> KeyEncoder:
        """inputs [n, F] (no labels)."""
        x = inputs.double()
        self.mean = x.mean(0)
        self.scale = x.std(0).clamp_min(1e-6)  # constant pixels (the digits' corners) stay zero
        z = (x - self.mean) / self.scale
        _, singular, vt = torch.linalg.svd(z, full_matrices=False)
        self.components = vt[: self.dims].T  # [F, dims]
        self.std = singular[: self.dims] / math.sqrt(x.shape[0] - 1)
        return self

    def transform(self, inputs: Tensor) -> Tensor:
        """inputs [.., F] -> keys [.., dims] float32."""
        if not hasattr(self, "components"):
            raise ValueError("KeyEncoder.fit(inputs) first: the encoder is fitted on unlabelled inputs")
        z = ((inputs.double() - self.mean) / self.scale) @ self.components / self.std
        return (self.centre + self.spread * z).float()

    __call__ = transform


@functools.cache
def digit_keys(dims: int = 16) -> tuple[Tensor, Tensor]:
    """Every digit as a key (the encoder fitted on all images, without labels) [1797, dims], and its label [1797]."""
    images, labels = load_digits_data()
    return KeyEncoder(dims).fit(images)(images), labels
