"""optevo: neural optimizer search over a dual-joint search space."""
