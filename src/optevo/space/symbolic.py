"""sympy, imported on first use.

`sp` stands in for the sympy module: the first name looked up on it (`sp.Symbol`, `sp.exp`,
...) imports sympy. The operation table spells its symbolic forms with it, so the space (and
`import optevo.optim`) loads sympy only when an equation is rendered as sympy or LaTeX.
"""

from __future__ import annotations

from typing import Any


class _LazySympy:
    """Attribute access on the sympy module, importing it at the first lookup."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # introspection (copy, pickle, inspect) must not load sympy
            raise AttributeError(name)
        import sympy

        value = getattr(sympy, name)
        setattr(self, name, value)  # later lookups of `name` skip __getattr__
        return value

    def __repr__(self) -> str:
        return "<sympy, imported on first use>"


sp: Any = _LazySympy()
"""The sympy module, imported when a name is first looked up on it."""
