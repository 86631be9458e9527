"""Built-in adapters, each registered as a `loop.adapters` entry point.

Only `loop.errors`, `loop.records`, `loop.ports` and `loop.spec` (for type hints
and cross-checks) are imported from loop; third-party adapters do the same.
"""
