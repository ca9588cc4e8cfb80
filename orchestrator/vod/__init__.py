"""The VOD API boundary: signing, typed models, errors, rate limiting and the async client.

Knows nothing of the daemon: it imports only the standard library, aiohttp and structlog.
"""

from orchestrator.vod.client import ClientStats, VodClient
from orchestrator.vod.errors import VodError
from orchestrator.vod.models import (
    Action,
    AIImageInfo,
    AIImageJob,
    AIImageResult,
    AIJob,
    GetAIImageJobsResult,
    GetImageInfosResult,
    ImageInfo,
    JobState,
    JobStatus,
    ListAIImageInfoResult,
    ListAIJobResult,
    SubmitAIImageJobResult,
)
from orchestrator.vod.retry import RetryPolicy
from orchestrator.vod.signing import Credentials

__all__ = [
    "AIImageInfo",
    "AIImageJob",
    "AIImageResult",
    "AIJob",
    "Action",
    "ClientStats",
    "Credentials",
    "GetAIImageJobsResult",
    "GetImageInfosResult",
    "ImageInfo",
    "JobState",
    "JobStatus",
    "ListAIImageInfoResult",
    "ListAIJobResult",
    "RetryPolicy",
    "SubmitAIImageJobResult",
    "VodClient",
    "VodError",
]
