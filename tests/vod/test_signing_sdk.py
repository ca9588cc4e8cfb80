"""Property tests: the project's V1 and V3 signatures equal the official SDK's on generated input.

The SDK (alibabacloud_tea_openapi, a test-only dependency) is an independent implementation.
Two of its habits shape the generators: its V3 canonical query does not percent-encode parameter
*names* (so V3 names come from the unreserved alphabet, as every real API name does), and it signs
every header it is handed (so it gets exactly the headers `sign_v3` signed).
"""

from __future__ import annotations

import string
from datetime import UTC, datetime

from alibabacloud_tea_openapi.utils import Utils
from darabonba.request import DaraRequest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from orchestrator.vod import signing
from orchestrator.vod.signing import Credentials

# Characters the encodings treat specially, mixed into otherwise arbitrary (non-surrogate) text.
_SPECIAL = st.sampled_from(
    [" ", "*", "~", "/", "+", "=", "&", "%", "%20", ",", "é", "中", "\U0001f600"]
)
_ANY_CHAR = st.characters(codec="utf-8")
VALUES = st.lists(st.one_of(_SPECIAL, _ANY_CHAR), max_size=12).map("".join)
SAFE_NAMES = st.text(
    alphabet=string.ascii_letters + string.digits + "-_.~", min_size=1, max_size=12
)
ANY_NAMES = st.text(alphabet=_ANY_CHAR, min_size=1, max_size=12)
SECRETS = st.text(alphabet=_ANY_CHAR, min_size=1, max_size=30)
TOKENS = st.none() | st.text(alphabet=string.ascii_letters + string.digits + "+/=", min_size=1)
HOSTS = st.sampled_from(
    ["vod.cn-shanghai.aliyuncs.com", "vod.ap-southeast-1.aliyuncs.com", "127.0.0.1:9000"]
)
NONCES = st.text(alphabet=string.hexdigits, min_size=1, max_size=32)
MOMENTS = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(UTC)
)


@settings(max_examples=250, deadline=None)
@given(
    params=st.dictionaries(ANY_NAMES, VALUES, max_size=8),
    method=st.sampled_from(["GET", "POST"]),
    secret=SECRETS,
)
def test_v1_signature_equals_the_sdk(params: dict[str, str], method: str, secret: str) -> None:
    """v1_signature equals Utils.get_rpcsignature for any names, values, method and secret."""
    assert signing.v1_signature(params, method=method, secret=secret) == Utils.get_rpcsignature(
        params, method, secret
    )


@settings(max_examples=250, deadline=None)
@given(
    params=st.dictionaries(SAFE_NAMES, VALUES, max_size=8),
    key_id=SAFE_NAMES,
    secret=SECRETS,
    token=TOKENS,
    nonce=NONCES,
    now=MOMENTS,
)
def test_sign_v1_query_verifies_with_the_sdk(
    params: dict[str, str], key_id: str, secret: str, token: str | None, nonce: str, now: datetime
) -> None:
    """The Signature sign_v1 adds equals the SDK's over the rest of the query it built."""
    assume(not set(params) & signing._V1_COMMON)
    query = signing.sign_v1(
        "ListAIJob",
        params,
        credentials=Credentials(key_id, secret, security_token=token),
        method="POST",
        now=now,
        nonce=nonce,
    )
    signature = query.pop("Signature")
    assert signature == Utils.get_rpcsignature(query, "POST", secret)


@settings(max_examples=250, deadline=None)
@given(
    action=st.sampled_from(["SubmitAIImageJob", "ListAIJob", "GetImageInfos"]),
    params=st.dictionaries(SAFE_NAMES, VALUES, max_size=8),
    key_id=SAFE_NAMES,
    secret=SECRETS,
    token=TOKENS,
    host=HOSTS,
    method=st.sampled_from(["GET", "POST"]),
    nonce=NONCES,
    now=MOMENTS,
)
def test_v3_authorization_equals_the_sdk(
    action: str,
    params: dict[str, str],
    key_id: str,
    secret: str,
    token: str | None,
    host: str,
    method: str,
    nonce: str,
    now: datetime,
) -> None:
    """sign_v3's Authorization equals Utils.get_authorization over the same request and headers."""
    headers = signing.sign_v3(
        action,
        params,
        credentials=Credentials(key_id, secret, security_token=token),
        host=host,
        method=method,
        now=now,
        nonce=nonce,
    )
    ours = headers.pop("Authorization")
    request = DaraRequest()
    request.method = method
    request.pathname = "/"
    request.query = dict(params)
    request.headers = dict(headers)
    theirs = Utils.get_authorization(
        request, "ACS3-HMAC-SHA256", signing.EMPTY_PAYLOAD_SHA256, key_id, secret
    )
    assert ours == theirs
