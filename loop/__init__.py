"""loop: a closed-loop campaign engine for materials discovery.

Heavy dependencies (torch, BoTorch) load only when a proposal is made, so
`loop validate` and `loop inspect` start quickly.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
