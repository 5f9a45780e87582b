"""Simplify and ablate genomes: an exact pass with no training, a noise-aware pass
scored with a fitness on paired seeds, and each part removed alone.

    from optevo.simplify import exact_pass, simplify, ablate, FitnessScorer
"""

from optevo.simplify.edits import Edit, candidate_edits, part_removals, prune, size
from optevo.simplify.exact import ExactResult, exact_pass, same_behaviour
from optevo.simplify.noisy import (
    AblationRow,
    BudgetSpentError,
    Paired,
    Scorer,
    SimplifyResult,
    ablate,
    simplify,
)
from optevo.simplify.scoring import FitnessScorer, ScoreStore, ScoreStoreError, ScoringError

__all__ = [
    "AblationRow",
    "BudgetSpentError",
    "Edit",
    "ExactResult",
    "FitnessScorer",
    "Paired",
    "ScoreStore",
    "ScoreStoreError",
    "Scorer",
    "ScoringError",
    "SimplifyResult",
    "ablate",
    "candidate_edits",
    "exact_pass",
    "part_removals",
    "prune",
    "same_behaviour",
    "simplify",
    "size",
]
