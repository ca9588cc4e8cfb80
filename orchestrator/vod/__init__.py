"""The VOD API boundary: signing, typed models, errors, rate limiting and the async client.

Knows nothing of the daemon: it imports only the standard library, aiohttp and structlog.
"""
