"""The space's fixed names, importable without the config machinery (no pydantic).

`default_space()` gives the default `SpaceConfig`, importing `optevo.space.config` only when
first called, so that modules on the path of `import optevo.optim` never load it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from optevo.space.config import SpaceConfig

MOMENTUM_TYPES: tuple[str, ...] = ("none", "momentum", "nesterov")

MUTATIONS: tuple[str, ...] = ("operation", "connection", "arity", "momentum", "decay")
"""The mutation kinds of SPEC 1.5, in the order of `SpaceConfig.mutation_weights`."""

LOCAL_EDITS: tuple[str, ...] = (
    "replace",
    "connection",
    "insert",
    "delete",
    "decay",
    "constant",
    "momentum",
)
"""The local edits of `Genome.propose_local_edit`, in the order of `SpaceConfig.local_weights`."""

SPACE_KINDS: tuple[str, ...] = ("paper", "extended")
"""The search spaces: the paper's (SPEC 1), and the extended one with evolvable constants."""


def default_space() -> SpaceConfig:
    """The default `SpaceConfig` (`optevo.space.config.DEFAULT_SPACE`), imported on first use."""
    from optevo.space.config import DEFAULT_SPACE

    return DEFAULT_SPACE
