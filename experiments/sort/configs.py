"""Sorting, N = 2..10: the paper's third result.

The same recipe as kv_probabilized (batch 128, fresh memory every step, plateau learning rate,
a chain of warm starts N -> N+1). A sort network answers one of N indices, so the N+1 network
copies the N network's weights and gives its new output row a fresh init. Targets: REFERENCE.md's
item (rank -> index) accuracy plus 0.005; N = 9 and 10 have none (the author's runs failed).
The full profile trains the chain with three seeds (0, 1, 2) up to N=8, and seed 0 on to N=10.
"""

from __future__ import annotations

from experiments.runner import Run, chain_experiment_runs

TARGET = {2: 0.998, 3: 0.982, 4: 0.964, 5: 0.972, 6: 0.967, 7: 0.970, 8: 0.973, 9: 0.95, 10: 0.95}
# step budget per run: about twice what seed 0 needed to reach its target (N = 9, 10: its steps + 60%)
STEPS = {2: 30_000, 3: 20_000, 4: 20_000, 5: 24_000, 6: 24_000, 7: 40_000, 8: 50_000, 9: 40_000, 10: 40_000}


def tests(n: int) -> tuple[tuple[int, str], ...]:
    """The trained N from a fresh and a zero memory, then fewer numbers than trained (a sort
    network for N answers N indices, so more numbers cannot be asked)."""
    fewer = sorted({max(2, n // 2), n - 1} - {n})
    return ((n, "fresh"), (n, "zero"), *((m, "fresh") for m in fewer))


def runs(profile: str) -> list[Run]:
    # quick: about 2 minutes
    return chain_experiment_runs("sort", profile, TARGET, STEPS, tests, largest=10, quick_targets={2: 0.98, 3: 0.95}, quick_steps={2: 6000, 3: 6000})
