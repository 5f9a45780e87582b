"""Constants of random initialisation and mutation (SPEC 1.4, 1.5, 2), as one config object."""

from __future__ import annotations

from pydantic import Field, field_validator

from optevo.config import Float, Int, StrictModel
from optevo.space.constants import MOMENTUM_TYPES as MOMENTUM_TYPES  # re-exported
from optevo.space.constants import MUTATIONS


class SpaceConfig(StrictModel):
    """How random genomes are drawn and mutated. Defaults are the paper's (SPEC 1.4/1.5/2).

    `mutation_weights` gives the relative probability of each kind in `MUTATIONS`; setting
    all but `decay` to 0 gives the "only decay functions mutable" experiment (SPEC 6).
    """

    n_hidden: Int = Field(4, ge=1)
    hidden_unary_p: Float = Field(0.75, ge=0.0, le=1.0)
    output_unary_p: Float = Field(0.25, ge=0.0, le=1.0)
    identity_p: Float = Field(0.2, ge=0.0, le=1.0)
    operand_p: Float = Field(0.8, ge=0.0, le=1.0)
    decay_p: Float = Field(0.15, ge=0.0, le=1.0)
    decay_n_hidden: Int = Field(1, ge=1)
    decay_unary_p: Float = Field(0.8, ge=0.0, le=1.0)
    decay_check_steps: Int = Field(100, ge=1)
    mutation_weights: tuple[Float, ...] = (0.40, 0.30, 0.10, 0.10, 0.10)
    swap_p: Float = Field(0.2, ge=0.0, le=1.0)
    decay_delete_p: Float = Field(0.5, ge=0.0, le=1.0)
    max_tries: Int = Field(20_000, ge=1)

    @field_validator("mutation_weights")
    @classmethod
    def _weights(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if len(v) != len(MUTATIONS) or min(v) < 0:
            raise ValueError(f"mutation_weights needs {len(MUTATIONS)} non-negative weights")
        if sum(v) <= 0:
            raise ValueError("mutation_weights must not all be zero")
        return v


DEFAULT_SPACE = SpaceConfig()
