"""The value probe: a substitution keeps the optimizer only where the values match.

A subtree edit replaces hidden node `h<i>` by something deeper in its own subtree (an
operand or hidden node it does not read directly). Unless that is a constant (`one`,
`two`: a deletion, like routing a node through one of its own inputs), it is a
substitution with a different operand, which issue 27 allows only when the subtree's
values are measured to match: the node's values and the replacement's values, computed by
the compiled rule on the behaviour hash's fixed stream (`fingerprint.update_stream`: 12
steps, gradients and weights over six orders of magnitude, both signs, exact zeros), must
agree entry by entry within a relative tolerance `VALUE_RTOL` (NaN where the other is NaN,
infinities equal).
"""

from __future__ import annotations

import numpy as np

from optevo.fingerprint import update_stream
from optevo.simplify.edits import IDENTITY, Edit, prune
from optevo.space.genome import Genome
from optevo.space.graph import Node, parse_hidden
from optevo.space.ops import OPERANDS

VALUE_RTOL = 0.01
"""How close a substitution's values must be to the subtree's: 1% of the larger magnitude,
entry by entry."""

CONSTANT_OPERANDS = frozenset(
    name for name, op in OPERANDS.items() if not op.gradient and not op.weight
)
"""Operands that are constants (`one`, `two`): replacing a subtree by one is a deletion."""


def is_substitution(edit: Edit) -> bool:
    """Whether the edit replaces a subtree by a different, non-constant operand or node."""
    return edit.kind == "subtree" and edit.ref is not None and edit.ref not in CONSTANT_OPERANDS


def values_of(genome: Genome, ref: str) -> np.ndarray:
    """The values hidden node or operand `ref` of `genome` takes on the fixed stream
    (shape (steps, entries); no momentum, no sign flip, the genome's constants)."""
    output = Node(IDENTITY, (ref,))
    if parse_hidden(ref) is None:  # an operand: read it through one identity node
        probe = Genome((output,), Node(IDENTITY, ("h0",)), "none", False, genome.constants)
    else:
        probe = prune(Genome(genome.hidden, output, "none", False, genome.constants))
    return update_stream(probe)


def values_match(a: np.ndarray, b: np.ndarray, rtol: float = VALUE_RTOL) -> bool:
    """Entry by entry: both NaN, or equal (infinities included), or finite and within
    `rtol` of the larger magnitude."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return False
    with np.errstate(all="ignore"):
        nan = np.isnan(a) | np.isnan(b)
        if not np.array_equal(np.isnan(a), np.isnan(b)):
            return False
        close = np.abs(a - b) <= rtol * np.maximum(np.abs(a), np.abs(b))
        ok = nan | (a == b) | (np.isfinite(a) & np.isfinite(b) & close)
    return bool(ok.all())


def substitution_matches(genome: Genome, edit: Edit, rtol: float = VALUE_RTOL) -> bool:
    """Whether `edit` (of `genome`) may be scored: any edit that is not a substitution, or
    a substitution whose replacement's values match the subtree's (`values_match`)."""
    if not is_substitution(edit):
        return True
    assert edit.node is not None and edit.ref is not None
    return values_match(values_of(genome, edit.node), values_of(genome, edit.ref), rtol)
