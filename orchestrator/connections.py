"""Connections: the VOD client built from the settings, the one place that maps them."""

from __future__ import annotations

from typing import Literal

from orchestrator.settings import Settings, SignatureVersion
from orchestrator.vod import Credentials, VodClient


def vod_client(
    settings: Settings, *, credentials: Credentials, endpoint: str | None = None
) -> VodClient:
    """A client for `settings.vod` under `settings.limits`; `endpoint` overrides the setting."""
    vod = settings.vod
    signature: Literal["v3", "v1"] = "v1" if vod.signature is SignatureVersion.V1 else "v3"
    return VodClient(
        credentials=credentials,
        region=vod.region,
        endpoint=vod.endpoint if endpoint is None else endpoint,
        signature=signature,
        connect_timeout_s=vod.connect_timeout_s,
        read_timeout_s=vod.read_timeout_s,
        rates=settings.vod_rates(),
    )
