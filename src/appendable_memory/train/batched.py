"""Several runs of one network shape trained in one process as one batched model (``torch.func``):
cheaper than the runs one after another where a step is bound by per-operation overhead rather than
arithmetic (a GPU, small networks). On a CPU at the paper's shape the step is mostly matrix products,
which batching does not make cheaper (benchmarks/batched_training.py).

    trainer = BatchedTrainer([config_0, .., config_{M-1}])   every weight stacked: [M, ...]
    losses, correct = trainer.step()                          one step of all M: [M], [M]
    networks = trainer.networks()                             M MemorizerRecallers, as trained so far

Network m is what ``Trainer(configs[m])`` trains, step for step, to float rounding: the same Glorot
init from its seed, the same start memories and batches from its own generators, its own loss and its
own Adam with its own learning rate and schedule. The forward runs under ``torch.vmap`` over the M
networks; the M losses are summed and backpropagated once (network m's weights appear only in loss m,
so each gets its own gradient), and one Adam over the stacked weights takes each network's lr and
beta2 as a tensor [M] (Adam's update is elementwise and every network has taken the same steps).

Supported: tasks kv, kv-fixed, sort and mqar at a fixed N; memory_start carried, fresh or zero; a
constant lr or the warm-up/cosine schedule; every memorizer but gated and lstm (torch has no vmap rule
for nn.GRU/nn.LSTM). The configs must agree on what fixes the shapes or the process (SHARED) and may
differ in seed, lr, lr_warmup, lr_decay_steps, adam_beta2 and train_keys. Refused (ConfigError): the
curriculum, items_min and the episode tasks (N changes between steps or networks), and the settings in
UNSUPPORTED. Evaluation, checkpoints, stopping rules (max_steps, target_acc, max_minutes) and rollback
are Trainer's, not done here: the caller steps as long as it wants and evaluates ``networks()``.
"""

from __future__ import annotations

import copy
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state

from ..config import ConfigError
from ..device import resolve_device
from ..model import MemorizerRecaller
from ..seeding import make_generator
from ..starts import start_memories
from ..tasks import key_drawer, training_data
from . import schedules
from .config import TrainConfig

SHARED = ("task", "items", "batch_size", "network", "memory_start", "device", "threads")  # must agree
UNSUPPORTED = ("curriculum_start", "items_min", "ema_decay", "lr_patience", "grad_clip", "init_from")  # must be None
PER_BATCH_N = ("episodes", "style-episodes", "varied-episodes", "digit-episodes")  # draw their N per batch: the M batches would differ in shape
BETA1, EPS = 0.9, 1e-8  # Adam's defaults, as train.loop.adam


def check_batchable(configs: Sequence[TrainConfig]) -> None:
    """Raise a one-line ConfigError where ``configs`` cannot be trained as one batched model."""
    if not configs:
        raise ConfigError("BatchedTrainer needs at least one config")
    first = configs[0]
    for i, config in enumerate(configs):
        for name in SHARED:
            if getattr(config, name) != getattr(first, name):
                raise ConfigError(f"batched configs must agree on {name}: config {i} has {getattr(config, name)!r}, config 0 {getattr(first, name)!r}")
        for name in UNSUPPORTED:
            if getattr(config, name) is not None:
                raise ConfigError(f"BatchedTrainer does not support {name} (config {i} sets {getattr(config, name)!r}); train that run with Trainer")
    if first.task in PER_BATCH_N:
        raise ConfigError(f"BatchedTrainer does not support task {first.task}: its N is drawn per batch, so the networks' batches differ in shape")


class BatchedTrainer:
    """M runs of one network shape (``configs``, see the module docstring), trained together."""

    def __init__(self, configs: Sequence[TrainConfig]):
        check_batchable(configs)
        self.configs = list(configs)
        first = self.configs[0]
        self.device = resolve_device(first.device)
        torch.set_num_threads(first.threads)
        models = [MemorizerRecaller(c.model_config(), generator=make_generator(c.seed, "init")).to(self.device) for c in self.configs]
        recurrent = [type(m).__name__ for m in models[0].modules() if isinstance(m, nn.RNNBase)]
        if recurrent:
            raise ConfigError(f"BatchedTrainer does not support the {first.network.memorizer} memorizer: torch has no vmap rule for its {recurrent[0]}")
        self.params, self.buffers = stack_module_state(models)  # name -> [M, ...]; the params are leaves
        self.template = copy.deepcopy(models[0]).to("meta")  # the forward's code; the weights come from self.params
        self.exp_avg = {k: torch.zeros_like(p) for k, p in self.params.items()}
        self.exp_avg_sq = {k: torch.zeros_like(p) for k, p in self.params.items()}
        self.beta2 = torch.tensor([c.adam_beta2 for c in self.configs], device=self.device)
        self.memory_gens = [make_generator(c.seed, "memory", self.device) for c in self.configs]
        self.next_batches = [self._training_data(c) for c in self.configs]
        # as Trainer._build: a first memory is drawn (and, unless carried, replaced before step 1)
        self.memory = self._start_memory("zero" if first.memory_start == "zero" else "fresh")
        self.steps = 0

    def _training_data(self, c: TrainConfig):
        """Run ``c``'s batch stream, drawn as Trainer._set_items draws it at a fixed N."""
        data_gen = make_generator(c.seed, "data", self.device)
        dataset_gen = make_generator(c.seed, "dataset", self.device)  # kv-fixed: its one dataset
        keys = None if c.train_keys == "uniform" else key_drawer(c.train_keys, c.items, make_generator(c.seed, "keys", self.device))
        return training_data(c.task, c.batch_size, c.items, dataset_gen if c.task == "kv-fixed" else data_gen, None, keys)

    def _start_memory(self, start: str) -> Tensor:
        """[M, B, D]: each network's start memories, from its own generator."""
        c = self.configs[0]
        return torch.stack([start_memories(start, c.batch_size, c.network.memory_size, generator=g, device=self.device) for g in self.memory_gens])

    def _loss(self, params: dict, buffers: dict, memory: Tensor, writes: Tensor, queries: Tensor, targets: Tensor):
        """One network (vmapped over M): memory [B, D], writes [B, N, W], queries [B, Q, K], targets [B, Q]
        -> (loss [], correct queries [], final state), as train_step computes them."""
        logits, final = functional_call(self.template, (params, buffers), (memory, writes, queries))
        loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten())
        return loss, (logits.detach().argmax(-1) == targets).sum(), final

    def step(self) -> tuple[Tensor, Tensor]:
        """One optimisation step of every network -> (losses [M], correct queries [M]), unsynchronised."""
        c = self.configs[0]
        if c.memory_start != "carried":
            self.memory = self._start_memory(c.memory_start)
        batches = [next_batch() for next_batch in self.next_batches]
        writes, queries, targets = (torch.stack(parts) for parts in zip(*((b.writes, b.queries, b.targets) for b in batches)))
        losses, correct, final = torch.vmap(self._loss)(self.params, self.buffers, self.memory, writes, queries, targets)
        for p in self.params.values():
            p.grad = None
        losses.sum().backward()
        self._adam()
        self.memory = final.detach()
        return losses.detach(), correct

    @torch.no_grad()
    def _adam(self) -> None:
        """torch.optim.Adam's update (no weight decay, no amsgrad) with each network's lr and beta2."""
        self.steps += 1
        t = self.steps
        lr = torch.tensor([c.lr * schedules.lr_factor(t - 1, c.lr_warmup, c.lr_decay_steps) for c in self.configs], device=self.device)
        step_size = lr / (1 - BETA1**t)  # [M]
        bias_correction2_sqrt = (1 - self.beta2**t).sqrt()  # [M]
        for name, p in self.params.items():
            per_network = (-1,) + (1,) * (p.dim() - 1)  # [M] -> [M, 1, ..] against p [M, ...]
            beta2 = self.beta2.view(per_network)
            m, v = self.exp_avg[name], self.exp_avg_sq[name]
            m.lerp_(p.grad, 1 - BETA1)
            v.mul_(beta2).add_((1 - beta2) * p.grad.square())
            denom = (v.sqrt() / bias_correction2_sqrt.view(per_network)).add_(EPS)
            p.sub_(step_size.view(per_network) * m / denom)

    def networks(self) -> list[MemorizerRecaller]:
        """The M networks as trained so far: MemorizerRecaller copies, on the run's device."""
        weights = {**self.params, **self.buffers}
        networks = []
        for m, c in enumerate(self.configs):
            network = MemorizerRecaller(c.model_config()).to(self.device)
            network.load_state_dict({k: w[m] for k, w in weights.items()})
            networks.append(network)
        return networks
