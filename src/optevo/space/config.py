"""Constants of random initialisation and mutation (SPEC 1.4, 1.5, 2), as one config object."""

from __future__ import annotations

from dataclasses import dataclass

MOMENTUM_TYPES: tuple[str, ...] = ("none", "momentum", "nesterov")

MUTATIONS: tuple[str, ...] = ("operation", "connection", "arity", "momentum", "decay")
"""The mutation kinds of SPEC 1.5, in the order of `SpaceConfig.mutation_weights`."""


@dataclass(frozen=True)
class SpaceConfig:
    """How random genomes are drawn and mutated. Defaults are the paper's (SPEC 1.4/1.5/2).

    `mutation_weights` gives the relative probability of each kind in `MUTATIONS`; setting
    all but `decay` to 0 gives the "only decay functions mutable" experiment (SPEC 6).
    """

    n_hidden: int = 4
    hidden_unary_p: float = 0.75
    output_unary_p: float = 0.25
    identity_p: float = 0.2
    operand_p: float = 0.8
    decay_p: float = 0.15
    decay_n_hidden: int = 1
    decay_unary_p: float = 0.8
    decay_check_steps: int = 100
    mutation_weights: tuple[float, ...] = (0.40, 0.30, 0.10, 0.10, 0.10)
    swap_p: float = 0.2
    decay_delete_p: float = 0.5
    max_tries: int = 20_000

    def __post_init__(self) -> None:
        if self.n_hidden < 1 or self.decay_n_hidden < 1:
            raise ValueError("n_hidden and decay_n_hidden must be at least 1")
        for name in (
            "hidden_unary_p",
            "output_unary_p",
            "identity_p",
            "operand_p",
            "decay_p",
            "decay_unary_p",
            "swap_p",
            "decay_delete_p",
        ):
            p = getattr(self, name)
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1], got {p}")
        if len(self.mutation_weights) != len(MUTATIONS) or min(self.mutation_weights) < 0:
            raise ValueError(f"mutation_weights needs {len(MUTATIONS)} non-negative weights")
        if sum(self.mutation_weights) <= 0:
            raise ValueError("mutation_weights must not all be zero")


DEFAULT_SPACE = SpaceConfig()
