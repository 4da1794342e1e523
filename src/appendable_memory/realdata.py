"""Real data that ships inside an installed package (scikit-learn's bundled datasets: nothing is
downloaded), the label-free encoder that turns it into keys, and the digits' split into *base*
classes (meta-training episodes, tasks.base_episode_batch) and held-out *novel* classes (their
test, fewshot.py): the usual meta-learning route, which fewshot.py compares with networks that
only ever saw random numbers.

The deployment protocol (fewshot.py's default): a fixed, seeded, class-stratified split of each
dataset's examples into three disjoint parts (:func:`split_dataset`), an ``encoder`` part whose
inputs (never their labels) fit the :class:`KeyEncoder`, a ``validation`` part whose episodes tune
the baselines' hyperparameters, and a ``test`` part whose episodes are measured. The encoder never
sees an example that is written or asked in an episode, as after a real deployment, where new
classes arrive after the encoder was fitted. ``transductive`` (an option, labelled as such): the
same parts, the encoder fitted on every example, the tested ones included.

    digits          1,797 real 8x8 scans of handwritten digits (64 floats), 10 classes
    wine            178 chemical analyses of wines (13 floats), 3 cultivars
    breast-cancer   569 measurements of cell nuclei in scans of breast masses (30 floats), benign / malignant
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from .seeding import make_generator

DATASETS = {"digits": "load_digits", "wine": "load_wine", "breast-cancer": "load_breast_cancer"}  # name: sklearn.datasets loader
BASE_CLASSES = (0, 1, 2, 3, 4)  # meta-training draws episodes from these digits only
NOVEL_CLASSES = (5, 6, 7, 8, 9)  # ... and is tested on these, never seen in training
KEY_CENTRE, KEY_SPREAD = 4.5, 9 / math.sqrt(12)  # where the kv networks' keys lie: uniform [0, 9), its mean and standard deviation
SPLIT_PARTS = ("encoder", "validation", "test")
SPLIT_FRACTIONS = (1 / 3, 1 / 3, 1 / 3)  # of each class, in SPLIT_PARTS order
SPLIT_SEED = 0
PROTOCOLS = ("deployment", "transductive")


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

    def __init__(self, dims: int = 16, centre: float = KEY_CENTRE, spread: float = KEY_SPREAD):
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
    [n, dims], and its label [n]. Transductive: for meta-training (tasks.base_episode_batch), not
    for measuring; fewshot.py measures with :func:`protocol_keys`."""
    inputs, labels = load_dataset(name)
    return KeyEncoder(dims).fit(inputs)(inputs), labels


@dataclass(frozen=True)
class Split:
    """Disjoint parts of a dataset, as sorted example indices [n_part] (SPLIT_PARTS)."""

    encoder: Tensor  # fits the key encoder (inputs only, never labels); in no episode
    validation: Tensor  # episodes that tune the baselines' hyperparameters
    test: Tensor  # the measured episodes

    def sizes(self) -> dict[str, int]:
        return {part: len(getattr(self, part)) for part in SPLIT_PARTS}


def split_dataset(labels: Tensor, seed: int = SPLIT_SEED, fractions: tuple[float, ...] = SPLIT_FRACTIONS) -> Split:
    """A fixed, seeded split of every class's examples into SPLIT_PARTS by ``fractions`` (stratified:
    each part holds about the same share of every class)."""
    if len(fractions) != len(SPLIT_PARTS) or abs(sum(fractions) - 1) > 1e-9 or min(fractions) <= 0:
        raise ValueError(f"fractions must be {len(SPLIT_PARTS)} positive shares summing to 1, got {fractions}")
    gen = make_generator(seed, "split")
    parts: list[list[Tensor]] = [[] for _ in SPLIT_PARTS]
    for c in range(int(labels.max()) + 1):
        members = torch.nonzero(labels == c).flatten()
        members = members[torch.randperm(len(members), generator=gen)]
        cuts = [round(len(members) * sum(fractions[: i + 1])) for i in range(len(fractions))]
        for i, (start, end) in enumerate(zip([0, *cuts[:-1]], cuts)):
            parts[i].append(members[start:end])
    return Split(*(torch.cat(part).sort().values for part in parts))


@functools.cache
def protocol_keys(name: str = "digits", dims: int = 16, protocol: str = "deployment", seed: int = SPLIT_SEED) -> tuple[Tensor, Tensor, Split]:
    """Every example of a dataset as a key [n, dims], its label [n] and the split: the encoder
    fitted, without labels, on the split's encoder part only (``deployment``) or on every example,
    the tested ones included (``transductive``)."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")
    inputs, labels = load_dataset(name)
    split = split_dataset(labels, seed)
    fitted_on = inputs[split.encoder] if protocol == "deployment" else inputs
    return KeyEncoder(dims).fit(fitted_on)(inputs), labels, split
