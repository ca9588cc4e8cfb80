"""The one exception tree of vod-orchestrator.

Every error the project raises on purpose derives from `OrchestratorError`::

    OrchestratorError
    ├── ConfigError          a configuration key is missing, unknown or has a bad value
    ├── StoreError           the store cannot be opened or used (locked by another daemon, corrupt)
    └── VodError             a VOD API call failed (orchestrator.vod.errors); `.retryable` says
                             whether the same call may succeed later, `.retry_after` how soon

Foreign errors (aiohttp, asyncio timeouts, sqlite3, json) are translated into this tree at the
boundary that meets them, never further in.
"""

from __future__ import annotations


class OrchestratorError(Exception):
    """Root of every error vod-orchestrator raises on purpose."""


class ConfigError(OrchestratorError):
    """A configuration value is unknown, missing or invalid; `key` names it (`section.key`)."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"configuration key {key!r}: {problem}")
        self.key = key
        self.problem = problem


class StoreError(OrchestratorError):
    """The store cannot be opened or used safely."""
