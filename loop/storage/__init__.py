"""Storage: SQLModel tables and the Store, the campaign's only state."""

from loop.storage.store import DEFAULT_URL, Store, sqlite_path

__all__ = ["DEFAULT_URL", "Store", "sqlite_path"]
