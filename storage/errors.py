"""Errors the store raises for the caller to show as one clear line."""


class StoreError(Exception):
    """The database URL is unusable, or the store cannot be opened or migrated."""
