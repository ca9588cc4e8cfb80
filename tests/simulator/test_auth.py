"""Signature verification: V1 and V3 accepted, and every rejection with its real code."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from orchestrator.simulator.auth import NonceCache, Verifier, form_params
from orchestrator.simulator.wire import ApiError, Call
from orchestrator.vod.signing import (
    Credentials,
    v1_signature,
    v3_authorization,
    v3_canonical_request,
    v3_signature,
)
from tests.simulator.helpers import DEMO, T0, TEST_HOST, Scheme, signed_call

KEYS = {DEMO.access_key_id: DEMO.access_key_secret, "second-id": "second-secret"}


def _verifier(capacity: int = 1000) -> Verifier:
    return Verifier(
        access_keys=KEYS,
        skew_tolerance_s=900,
        nonces=NonceCache(ttl_s=900, capacity=capacity),
    )


def _with_headers(call: Call, **changes: str) -> Call:
    headers = CIMultiDict(call.headers)
    for name, value in changes.items():
        headers[name.replace("_", "-")] = value
    return replace(call, headers=CIMultiDictProxy(headers))


def _rejection(call: Call, *, now: float = T0, verifier: Verifier | None = None) -> ApiError:
    with pytest.raises(ApiError) as caught:
        (verifier or _verifier()).verify(call, now)
    return caught.value


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_a_v3_call_is_verified(method: str) -> None:
    """A V3 call signed with a configured key names its key, action and parameters."""
    call = signed_call("ListAIJob", {"JobIds": "a,b"}, now=T0, method=method)
    verified = _verifier().verify(call, T0)
    assert verified.scheme == "v3"
    assert verified.access_key_id == DEMO.access_key_id
    assert verified.action == "ListAIJob"
    assert verified.version == "2017-03-21"
    assert verified.params["JobIds"] == "a,b"


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_a_v1_call_is_verified(method: str) -> None:
    """A V1 call carries everything in its query, including unicode and reserved characters."""
    params = {"VideoId": "vidé o/*~+", "AITemplateId": "t"}
    call = signed_call("SubmitAIImageJob", params, now=T0, scheme="v1", method=method)
    verified = _verifier().verify(call, T0)
    assert verified.scheme == "v1"
    assert verified.action == "SubmitAIImageJob"
    assert verified.params["VideoId"] == "vidé o/*~+"


def test_the_second_configured_key_works_too() -> None:
    """Every configured pair is accepted."""
    credentials = Credentials("second-id", "second-secret")
    call = signed_call("ListAIJob", {"JobIds": "a"}, now=T0, credentials=credentials)
    assert _verifier().verify(call, T0).access_key_id == "second-id"


def _v3_headers(call: Call) -> dict[str, str]:
    """The headers of a signed V3 call without its Authorization, lower-cased."""
    return {name.lower(): value for name, value in call.headers.items() if name != "Authorization"}


def _resigned(call: Call, headers: dict[str, str], signed: list[str], body: bytes = b"") -> Call:
    """`call` with these headers and body, signed over exactly the `signed` header names."""
    canonical = v3_canonical_request(
        method=call.method,
        path="/",
        query=call.query,
        headers=headers,
        signed_headers=signed,
        payload_hash=headers["x-acs-content-sha256"],
    )
    signature = v3_signature(canonical, secret=DEMO.access_key_secret)
    authorization = v3_authorization(DEMO.access_key_id, sorted(signed), signature)
    all_headers = CIMultiDict({**headers, "Authorization": authorization})
    return replace(call, headers=CIMultiDictProxy(all_headers), body=body)


def _sdk_style_call(*, user_agent: str) -> Call:
    """A V3 call that, like the official SDK, also signs user-agent and accept."""
    base = signed_call("ListAIJob", {"JobIds": "a"}, now=T0)
    headers = {**_v3_headers(base), "user-agent": user_agent, "accept": "application/json"}
    return _resigned(base, headers, sorted(headers))


def test_v3_verifies_exactly_the_headers_named_in_signedheaders() -> None:
    """Extra signed headers count; changing one breaks the signature, an unsigned one does not."""
    call = _sdk_style_call(user_agent="AlibabaCloud (Linux) Python/3.11")
    assert _verifier().verify(call, T0).action == "ListAIJob"
    tampered = _with_headers(call, user_agent="something else")
    assert _rejection(tampered).code == "SignatureDoesNotMatch"
    unsigned_change = _with_headers(signed_call("ListAIJob", {"JobIds": "a"}, now=T0), accept="*/*")
    assert _verifier().verify(unsigned_change, T0).action == "ListAIJob"


def test_a_wrong_secret_does_not_match() -> None:
    """Signing with another secret is SignatureDoesNotMatch (400)."""
    call = signed_call(
        "ListAIJob", {"JobIds": "a"}, now=T0, credentials=Credentials(DEMO.access_key_id, "bad")
    )
    error = _rejection(call)
    assert (error.code, error.status) == ("SignatureDoesNotMatch", 400)
    v1 = signed_call(
        "ListAIJob",
        {"JobIds": "a"},
        now=T0,
        scheme="v1",
        credentials=Credentials(DEMO.access_key_id, "bad"),
    )
    assert _rejection(v1).code == "SignatureDoesNotMatch"


@pytest.mark.parametrize("scheme", ["v1", "v3"])
def test_a_tampered_parameter_does_not_match(scheme: Scheme) -> None:
    """Changing a signed parameter after signing is detected, in V1 and V3."""
    call = signed_call("ListAIJob", {"JobIds": "a"}, now=T0, scheme=scheme)
    tampered = replace(call, query={**call.query, "JobIds": "b"})
    assert _rejection(tampered).code == "SignatureDoesNotMatch"


def test_the_method_is_part_of_the_signature() -> None:
    """A call signed for GET and sent as POST does not match."""
    call = signed_call("ListAIJob", {"JobIds": "a"}, now=T0, scheme="v1", method="GET")
    assert _rejection(replace(call, method="POST")).code == "SignatureDoesNotMatch"


def test_an_unknown_key_id_is_not_found() -> None:
    """An access key id the emulator does not know is InvalidAccessKeyId.NotFound (404)."""
    call = signed_call("ListAIJob", {"JobIds": "a"}, now=T0, credentials=Credentials("nobody", "x"))
    error = _rejection(call)
    assert (error.code, error.status) == ("InvalidAccessKeyId.NotFound", 404)


def test_an_unsigned_call_misses_its_signature() -> None:
    """A call with neither Authorization nor Signature is MissingParameter."""
    call = Call(
        method="GET",
        path="/",
        query={"Action": "ListAIJob", "JobIds": "a"},
        headers=CIMultiDictProxy(CIMultiDict()),
    )
    error = _rejection(call)
    assert (error.code, error.status) == ("MissingParameter", 400)
    assert '"Signature"' in error.message


@pytest.mark.parametrize("name", ["Timestamp", "SignatureNonce", "AccessKeyId", "Version"])
def test_a_v1_call_without_a_common_parameter_names_it(name: str) -> None:
    """Each missing V1 common parameter is a MissingParameter that names it."""
    call = signed_call("ListAIJob", {"JobIds": "a"}, now=T0, scheme="v1")
    query = {k: v for k, v in call.query.items() if k != name}
    error = _rejection(replace(call, query=query))
    assert error.code == "MissingParameter"
    assert f'"{name}"' in error.message


@pytest.mark.parametrize("name", ["x-acs-date", "x-acs-signature-nonce", "x-acs-content-sha256"])
def test_a_v3_call_without_a_required_header_names_it(name: str) -> None:
    """Each missing V3 header is a MissingParameter that names it."""
    call = signed_call("ListAIJob", {"JobIds": "a"}, now=T0)
    headers = CIMultiDict(call.headers)
    del headers[name]
    error = _rejection(replace(call, headers=CIMultiDictProxy(headers)))
    assert error.code == "MissingParameter"
    assert name in error.message


@pytest.mark.parametrize(
    "authorization",
    [
        "ACS3-HMAC-SHA256 Credential=demo-access-key-id,Signature=abc",
        "HMAC-SHA1 Credential=x,SignedHeaders=host,Signature=abc",
        "garbage",
    ],
)
def test_a_malformed_authorization_is_an_incomplete_signature(authorization: str) -> None:
    """An Authorization header that is not a complete V3 value is IncompleteSignature."""
    call = _with_headers(
        signed_call("ListAIJob", {"JobIds": "a"}, now=T0), authorization=authorization
    )
    error = _rejection(call)
    assert (error.code, error.status) == ("IncompleteSignature", 400)


def test_an_unsigned_acs_header_is_an_incomplete_signature() -> None:
    """Every x-acs-* header sent must be signed: one added afterwards is rejected."""
    call = _with_headers(signed_call("ListAIJob", {"JobIds": "a"}, now=T0), x_acs_extra="1")
    error = _rejection(call)
    assert error.code == "IncompleteSignature"
    assert "x-acs-extra" in error.message


def test_a_v3_signature_must_cover_the_host() -> None:
    """A signature over every x-acs-* header but not the host is IncompleteSignature."""
    base = signed_call("ListAIJob", {"JobIds": "a"}, now=T0)
    headers = _v3_headers(base)
    error = _rejection(_resigned(base, headers, [name for name in headers if name != "host"]))
    assert error.code == "IncompleteSignature"
    assert "host" in error.message


def test_an_unsupported_v1_method_is_an_incomplete_signature() -> None:
    """V1 must be HMAC-SHA1, version 1.0."""
    call = signed_call("ListAIJob", {"JobIds": "a"}, now=T0, scheme="v1")
    query = {**call.query, "SignatureMethod": "HMAC-SHA256"}
    assert _rejection(replace(call, query=query)).code == "IncompleteSignature"


def test_clock_skew_up_to_fifteen_minutes_is_tolerated() -> None:
    """A timestamp 900 s off either way passes; 901 s is InvalidTimeStamp.Expired."""
    for offset in (-900, 900):
        _verifier().verify(signed_call("ListAIJob", {"JobIds": "a"}, now=T0 + offset), T0)
    for offset in (-901, 901):
        call = signed_call("ListAIJob", {"JobIds": "a"}, now=T0 + offset, scheme="v1")
        error = _rejection(call)
        assert (error.code, error.status) == ("InvalidTimeStamp.Expired", 400)


@pytest.mark.parametrize("value", ["2023-11-14 22:13:20", "2023-13-14T22:13:20Z", "yesterday"])
def test_an_unreadable_timestamp_is_a_format_error(value: str) -> None:
    """A Timestamp not in YYYY-MM-DDThh:mm:ssZ form is InvalidTimeStamp.Format."""
    call = _with_headers(signed_call("ListAIJob", {"JobIds": "a"}, now=T0), x_acs_date=value)
    assert _rejection(call).code == "InvalidTimeStamp.Format"


def test_a_nonce_is_accepted_once() -> None:
    """Replaying a verified call is SignatureNonceUsed."""
    verifier = _verifier()
    call = signed_call("ListAIJob", {"JobIds": "a"}, now=T0, nonce="n-1")
    verifier.verify(call, T0)
    error = _rejection(call, verifier=verifier)
    assert (error.code, error.status) == ("SignatureNonceUsed", 400)


def test_a_rejected_call_does_not_spend_its_nonce() -> None:
    """A nonce used by a call with a bad signature can still be used by a good one."""
    verifier = _verifier()
    bad = signed_call(
        "ListAIJob",
        {"JobIds": "a"},
        now=T0,
        nonce="n-2",
        credentials=Credentials(DEMO.access_key_id, "wrong"),
    )
    assert _rejection(bad, verifier=verifier).code == "SignatureDoesNotMatch"
    good = signed_call("ListAIJob", {"JobIds": "a"}, now=T0, nonce="n-2")
    assert verifier.verify(good, T0).action == "ListAIJob"


def test_the_body_must_match_its_declared_hash() -> None:
    """A V3 body whose SHA-256 differs from x-acs-content-sha256 is rejected."""
    call = replace(signed_call("ListAIJob", {"JobIds": "a"}, now=T0), body=b"JobIds=b")
    assert _rejection(call).code == "SignatureDoesNotMatch"


def test_a_v3_form_body_with_its_hash_adds_parameters() -> None:
    """A signed, hashed form body is accepted and its parameters join the query's."""
    body = b"JobIds=x%2Cy"
    base = signed_call("ListAIJob", {}, now=T0)
    headers = {
        **_v3_headers(base),
        "content-type": "application/x-www-form-urlencoded",
        "x-acs-content-sha256": hashlib.sha256(body).hexdigest(),
    }
    call = _resigned(base, headers, sorted(headers), body)
    assert _verifier().verify(call, T0).params["JobIds"] == "x,y"


def test_v1_signs_form_body_parameters_with_the_query() -> None:
    """As the SDK's V1 path does, parameters in a form body are part of what is signed."""
    call = signed_call("ListAIJob", {}, now=T0, scheme="v1")
    query = {k: v for k, v in call.query.items() if k != "Signature"}
    signature = v1_signature({**query, "JobIds": "x"}, method="POST", secret=DEMO.access_key_secret)
    headers = CIMultiDict({"host": TEST_HOST, "content-type": "application/x-www-form-urlencoded"})
    form_call = Call(
        method="POST",
        path="/",
        query={**query, "Signature": signature},
        headers=CIMultiDictProxy(headers),
        body=b"JobIds=x",
    )
    assert form_params(form_call) == {"JobIds": "x"}
    assert _verifier().verify(form_call, T0).params["JobIds"] == "x"


def test_nonces_expire_after_their_window() -> None:
    """A nonce may be reused once the window has passed: its timestamp would be expired anyway."""
    cache = NonceCache(ttl_s=900, capacity=10)
    assert cache.add("n", T0)
    assert not cache.add("n", T0 + 899)
    assert cache.add("n", T0 + 900)


def test_the_nonce_memory_is_bounded() -> None:
    """Past its capacity the cache forgets the oldest nonces first."""
    cache = NonceCache(ttl_s=900, capacity=3)
    for nonce in "abcd":
        assert cache.add(nonce, T0)
    assert len(cache) == 3
    assert cache.add("a", T0)  # forgotten, so accepted again
    assert not cache.add("d", T0)
