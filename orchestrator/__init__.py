"""vod-orchestrator: a durable asyncio daemon for ApsaraVideo VOD image AI jobs."""

__version__ = "0.1.0"
