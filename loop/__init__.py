"""loop: a closed-loop campaign engine for materials discovery.

Heavy dependencies (torch, BoTorch) load only when a proposal is made, so
`loop validate` and `loop inspect` start quickly.
"""

__version__ = "0.1.0"

__all__ = ["Campaign", "__version__"]


def __getattr__(name: str) -> object:
    # `loop.Campaign` imports the store and the spec only when asked for
    if name == "Campaign":
        from loop.campaign import Campaign

        return Campaign
    raise AttributeError(f"module 'loop' has no attribute {name!r}")
