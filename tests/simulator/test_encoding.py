"""Parameter values survive every client's URL encoding and the signature still holds."""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import quote, quote_plus

import aiohttp
from hypothesis import given, settings
from hypothesis import strategies as st
from yarl import URL

from orchestrator.simulator import EmulatorConfig, serve
from tests.simulator.helpers import Scheme, signed_call

# urllib's quote (space as %20) or quote_plus (space as +, the SDK's urlencode default).
Encoder = Callable[..., str]

# Any printable text, including spaces, `+`, `*`, `~`, `/`, `%`, `&`, `=` and non-ASCII.
VALUES = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=24
).filter(lambda value: value.strip())


@settings(max_examples=40, deadline=None)
@given(video_id=VALUES, template_id=VALUES, encoder=st.sampled_from([quote, quote_plus]))
async def test_any_value_round_trips_through_the_url(
    video_id: str, template_id: str, encoder: Encoder
) -> None:
    """Signed with V1 and V3, sent %20- or +-encoded, the job records the exact values."""
    async with serve(EmulatorConfig()) as emu, aiohttp.ClientSession() as session:
        host = emu.endpoint.removeprefix("http://")
        schemes: tuple[Scheme, ...] = ("v1", "v3")
        for scheme in schemes:
            call = signed_call(
                "SubmitAIImageJob",
                {"VideoId": video_id, "AITemplateId": template_id},
                now=time.time(),
                scheme=scheme,
                host=host,
            )
            query = "&".join(
                f"{encoder(name, safe='')}={encoder(value, safe='')}"
                for name, value in call.query.items()
            )
            url = URL(f"{emu.endpoint}/?{query}", encoded=True)
            async with session.post(url, headers=call.headers) as response:
                assert response.status == 200, await response.text()
        assert {(job["video_id"], job["template_id"]) for job in emu.jobs()} == {
            (video_id, template_id)
        }
