"""optevo: neural optimizer search over a dual-joint search space.

The weight-update equation (a graph), its decay functions and its learning-rate schedule
evolve together; what is found ships as drop-in PyTorch optimizers (`optevo.optim`).
"""

from optevo.space import DecayGenome, Genome, Node, SpaceConfig

__version__ = "0.1.0"
__all__ = ["DecayGenome", "Genome", "Node", "SpaceConfig", "__version__"]
