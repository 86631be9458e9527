"""The robot HTTP API served by `loop serve`."""

from loop.api.app import create_app

__all__ = ["create_app"]
