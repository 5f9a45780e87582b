"""The search space as data: operation table, genomes, decay functions (SPEC 1-2).

`SpaceConfig` and `DEFAULT_SPACE` are imported from `optevo.space.config` on first access,
so that importing the space (as `import optevo.optim` does) does not load the config
machinery.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from optevo.space.constants import MOMENTUM_TYPES
from optevo.space.decay import DecayGenome
from optevo.space.genes import GENES, Constants
from optevo.space.genome import SCHEMA, SCHEMA_EXTENDED, Genome
from optevo.space.graph import Node

if TYPE_CHECKING:
    from optevo.space.config import DEFAULT_SPACE, EXTENDED_SPACE, SpaceConfig

__all__ = [
    "DEFAULT_SPACE",
    "EXTENDED_SPACE",
    "GENES",
    "MOMENTUM_TYPES",
    "SCHEMA",
    "SCHEMA_EXTENDED",
    "Constants",
    "DecayGenome",
    "Genome",
    "Node",
    "SpaceConfig",
]

_FROM_CONFIG = ("DEFAULT_SPACE", "EXTENDED_SPACE", "SpaceConfig")


def __getattr__(name: str) -> Any:
    if name in _FROM_CONFIG:
        from optevo.space import config

        return getattr(config, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
