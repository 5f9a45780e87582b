"""Constants of random initialisation and mutation (SPEC 1.4, 1.5, 2), as one config object."""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import (
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

from optevo.config import Float, Int, StrictModel
from optevo.space.constants import LOCAL_EDITS, MUTATIONS
from optevo.space.constants import MOMENTUM_TYPES as MOMENTUM_TYPES  # re-exported

DEFAULT_LOCAL_WEIGHTS: dict[str, float] = {
    "replace": 0.25,
    "connection": 0.15,
    "insert": 0.10,
    "delete": 0.10,
    "decay": 0.15,
    "constant": 0.20,
    "momentum": 0.05,
}
"""The relative weights of the local edits (`Genome.propose_local_edit`); `constant` counts
in the extended space only (the others are renormalised in the paper's space)."""
_CONSTANT = LOCAL_EDITS.index("constant")

_LATER_FIELDS = (
    "kind",
    "local_weights",
    "constant_mutation_p",
    "constant_sigma",
    "wd_on_range",
    "wd_off_p",
)
"""Fields added with the extended space and local edits: written only when they differ from
their defaults, so a paper-space configuration dumps (and is stored by a run) as before."""


class SpaceConfig(StrictModel):
    """How random genomes are drawn and mutated. Defaults are the paper's (SPEC 1.4/1.5/2).

    `kind`: "paper" (SPEC 1, the default) or "extended": the extended space adds the `sign`
    operation and the `dir` operand to what draws and mutations use, and evolvable constants
    (`optevo.space.genes`) that mutations move: `propose_mutation` moves one with probability
    `constant_mutation_p`, `propose_local_edit` with the weight of `constant`. A constant
    moves by a normal step of scale `constant_sigma` in its parameterisation (log(1 - beta),
    log eps, logit of a quasi-hyperbolic weight, log wd); a weight decay of 0 is switched on
    log-uniformly in `wd_on_range` and one that is on is switched off with `wd_off_p`.

    `mutation_weights` gives the relative probability of each kind in `MUTATIONS`; setting
    all but `decay` to 0 gives the "only decay functions mutable" experiment (SPEC 6).
    `local_weights` gives those of the local edits (`LOCAL_EDITS`): in YAML a mapping of the
    edits to change (`local_weights: {constant: 0.5}`; the others keep their defaults) or
    all seven weights in order.
    """

    kind: Literal["paper", "extended"] = "paper"
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
    local_weights: tuple[Float, ...] = tuple(DEFAULT_LOCAL_WEIGHTS.values())
    constant_mutation_p: Float = Field(0.2, ge=0.0, le=1.0)
    constant_sigma: Float = Field(0.5, gt=0.0, le=10.0)
    wd_on_range: tuple[Float, Float] = (1e-5, 1e-1)
    wd_off_p: Float = Field(0.2, ge=0.0, le=1.0)

    @field_validator("mutation_weights")
    @classmethod
    def _weights(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if len(v) != len(MUTATIONS) or min(v) < 0:
            raise ValueError(f"mutation_weights needs {len(MUTATIONS)} non-negative weights")
        if sum(v) <= 0:
            raise ValueError("mutation_weights must not all be zero")
        return v

    @field_validator("local_weights", mode="before")
    @classmethod
    def _local_mapping(cls, v: Any) -> Any:
        # A mapping names the edits it changes; the others keep their default weights.
        if not isinstance(v, dict):
            return v
        unknown = [k for k in v if k not in LOCAL_EDITS]
        if unknown:
            raise ValueError(
                f"local_weights: unknown edit {unknown[0]!r}; known: {', '.join(LOCAL_EDITS)}"
            )
        return tuple(v.get(k, DEFAULT_LOCAL_WEIGHTS[k]) for k in LOCAL_EDITS)

    @field_validator("local_weights")
    @classmethod
    def _local_weights(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if len(v) != len(LOCAL_EDITS) or min(v) < 0 or not all(map(math.isfinite, v)):
            raise ValueError(
                f"local_weights needs {len(LOCAL_EDITS)} finite non-negative weights, for "
                f"{', '.join(LOCAL_EDITS)}"
            )
        if sum(v) <= 0:
            raise ValueError("local_weights must not all be zero")
        return v

    @field_validator("wd_on_range")
    @classmethod
    def _wd_range(cls, v: tuple[float, float]) -> tuple[float, float]:
        lo, hi = v
        if not 0.0 < lo <= hi <= 1.0:
            raise ValueError(f"wd_on_range needs 0 < low <= high <= 1, got {v}")
        return v

    @model_validator(mode="after")
    def _local_edits_left(self) -> SpaceConfig:
        if self.kind == "paper" and sum(self.local_weights) == self.local_weights[_CONSTANT]:
            raise ValueError(
                "local_weights: only constant edits have weight, and the paper's space has "
                "no constants (use kind: extended)"
            )
        return self

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        for name in _LATER_FIELDS:
            if getattr(self, name) == type(self).model_fields[name].default:
                data.pop(name, None)
        return data

    @property
    def is_extended(self) -> bool:
        return self.kind == "extended"


DEFAULT_SPACE = SpaceConfig()
EXTENDED_SPACE = SpaceConfig(kind="extended")
"""The extended space with the paper's draw and mutation settings."""
