"""optevo: neural optimizer search over a dual-joint search space.

The weight-update equation (a graph), its decay functions and its learning-rate schedule
evolve together; what is found ships as drop-in PyTorch optimizers (`optevo.optim`).

Importing `optevo` stays light: `SpaceConfig` and `discover` (a search on your own task,
`optevo.discover`; it needs the `search` extra) are loaded on first access.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from optevo.space import DecayGenome, Genome, Node

if TYPE_CHECKING:
    from optevo.discovery import discover
    from optevo.space.config import SpaceConfig

__version__ = "0.1.0"
__all__ = ["DecayGenome", "Genome", "Node", "SpaceConfig", "__version__", "discover"]


def __getattr__(name: str) -> Any:
    if name == "SpaceConfig":
        from optevo.space.config import SpaceConfig

        return SpaceConfig
    if name == "discover":
        from optevo.discovery import discover

        return discover
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
