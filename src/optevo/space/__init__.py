"""The search space as data: operation table, genomes, decay functions (SPEC 1-2)."""

from optevo.space.config import DEFAULT_SPACE, MOMENTUM_TYPES, SpaceConfig
from optevo.space.decay import DecayGenome
from optevo.space.genome import SCHEMA, Genome
from optevo.space.graph import Node

__all__ = [
    "DEFAULT_SPACE",
    "MOMENTUM_TYPES",
    "SCHEMA",
    "DecayGenome",
    "Genome",
    "Node",
    "SpaceConfig",
]
