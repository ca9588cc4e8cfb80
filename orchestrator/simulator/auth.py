"""Signature verification, V1 (query `Signature`) and V3 (`Authorization` header).

Verification recomputes the signature with `orchestrator.vod.signing`, the same functions the
client signs with, over exactly what the caller claims to have signed: the V1 parameters of the
query and form body, or the V3 headers named in `SignedHeaders` (the official SDK signs
`user-agent` and `accept` too). Checks run in the order a caller can fix them: missing
parameters, the key id, the clock, the signature, and only then is the nonce spent, so a
rejected call does not burn its nonce.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Literal
from urllib.parse import parse_qsl

from orchestrator.simulator.wire import (
    ACCESS_KEY_NOT_FOUND,
    INCOMPLETE_SIGNATURE,
    MISSING_PARAMETER,
    NONCE_USED,
    SIGNATURE_DOES_NOT_MATCH,
    TIMESTAMP_EXPIRED,
    TIMESTAMP_FORMAT,
    ApiError,
    Call,
)
from orchestrator.vod.signing import (
    EMPTY_PAYLOAD_SHA256,
    V3_ALGORITHM,
    parse_v3_authorization,
    v1_signature,
    v3_canonical_request,
    v3_signature,
)

_V1_REQUIRED = (
    "AccessKeyId",
    "SignatureMethod",
    "SignatureVersion",
    "SignatureNonce",
    "Timestamp",
    "Action",
    "Version",
)
_V3_REQUIRED = (
    "x-acs-action",
    "x-acs-version",
    "x-acs-date",
    "x-acs-signature-nonce",
    "x-acs-content-sha256",
)
# Besides every x-acs-* header sent (action, date, nonce, body hash...), a V3 signature must
# cover the host: leaving any of them out would let a signature be replayed or retargeted.
_V3_MUST_SIGN = frozenset({"host"})
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
_FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


@dataclass(frozen=True, slots=True)
class Verified:
    """A call whose signature holds: who sent it, what it asks for, and its parameters."""

    access_key_id: str
    action: str
    version: str
    scheme: Literal["v1", "v3"]
    params: Mapping[str, str]


class NonceCache:
    """Nonces seen in the last `ttl_s` seconds, at most `capacity` of them (oldest evicted)."""

    def __init__(self, *, ttl_s: float, capacity: int) -> None:
        self._ttl_s = ttl_s
        self._capacity = capacity
        self._expiry: OrderedDict[str, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._expiry)

    def add(self, nonce: str, now: float) -> bool:
        """Remember `nonce`; False when it was already seen within the window."""
        expiry = self._expiry
        while expiry and next(iter(expiry.values())) <= now:
            expiry.popitem(last=False)
        if nonce in expiry:
            return False
        expiry[nonce] = now + self._ttl_s
        if len(expiry) > self._capacity:
            expiry.popitem(last=False)
        return True


@lru_cache(maxsize=256)
def parse_timestamp(text: str) -> float:
    """Unix time of a `YYYY-MM-DDThh:mm:ssZ` value; cached since a second's calls share one."""
    if not _TIMESTAMP.fullmatch(text):
        raise ApiError(TIMESTAMP_FORMAT)
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise ApiError(TIMESTAMP_FORMAT) from None


def form_params(call: Call) -> dict[str, str]:
    """Parameters sent as a form body (the SDK's V1 path may put them there)."""
    if not call.body:
        return {}
    content_type = call.headers.get("content-type", "")
    if not content_type.lower().startswith(_FORM_CONTENT_TYPE):
        return {}
    try:
        text = call.body.decode()
    except UnicodeDecodeError:
        return {}
    return dict(parse_qsl(text, keep_blank_values=True))


class Verifier:
    """Checks signed calls against the configured key pairs; raises ApiError on failure."""

    def __init__(
        self, *, access_keys: Mapping[str, str], skew_tolerance_s: float, nonces: NonceCache
    ) -> None:
        self._access_keys = access_keys
        self._skew_tolerance_s = skew_tolerance_s
        self._nonces = nonces

    def verify(self, call: Call, now: float) -> Verified:
        query = dict(call.query)
        form = form_params(call)
        authorization = call.headers.get("authorization")
        if authorization is not None:
            return self._verify_v3(call, authorization, query, form, now)
        if "Signature" in query or "Signature" in form:
            return self._verify_v1(call, {**query, **form}, now)
        raise ApiError(MISSING_PARAMETER, "Signature")

    def _verify_v1(self, call: Call, params: dict[str, str], now: float) -> Verified:
        signature = params.pop("Signature")
        for name in _V1_REQUIRED:
            if not params.get(name):
                raise ApiError(MISSING_PARAMETER, name)
        if params["SignatureMethod"] != "HMAC-SHA1" or params["SignatureVersion"] != "1.0":
            raise ApiError(
                INCOMPLETE_SIGNATURE, reason="V1 needs HMAC-SHA1 and SignatureVersion 1.0."
            )
        key_id = params["AccessKeyId"]
        secret = self._secret(key_id)
        self._check_clock(params["Timestamp"], now)
        expected = v1_signature(params, method=call.method, secret=secret)
        if not hmac.compare_digest(expected, signature):
            raise ApiError(SIGNATURE_DOES_NOT_MATCH)
        self._spend_nonce(params["SignatureNonce"], now)
        return Verified(key_id, params["Action"], params["Version"], "v1", params)

    def _verify_v3(
        self,
        call: Call,
        authorization: str,
        query: dict[str, str],
        form: dict[str, str],
        now: float,
    ) -> Verified:
        parsed = parse_v3_authorization(authorization)
        if parsed is None:
            raise ApiError(
                INCOMPLETE_SIGNATURE, reason=f"Authorization must be a {V3_ALGORITHM} value."
            )
        headers = call.headers
        for name in _V3_REQUIRED:
            if not headers.get(name):
                raise ApiError(MISSING_PARAMETER, name)
        signed = frozenset(name.lower() for name in parsed.signed_headers)
        unsigned = (_V3_MUST_SIGN | _present_acs_headers(headers)) - signed
        if unsigned:
            raise ApiError(
                INCOMPLETE_SIGNATURE, reason=f"Unsigned header(s): {', '.join(sorted(unsigned))}."
            )
        secret = self._secret(parsed.access_key_id)
        self._check_clock(headers["x-acs-date"], now)
        payload_hash = headers["x-acs-content-sha256"]
        actual_hash = hashlib.sha256(call.body).hexdigest() if call.body else EMPTY_PAYLOAD_SHA256
        if payload_hash.lower() != actual_hash:
            raise ApiError(
                SIGNATURE_DOES_NOT_MATCH, reason="x-acs-content-sha256 is not the body's hash."
            )
        canonical = v3_canonical_request(
            method=call.method,
            path=call.path,
            query=query,
            headers={name: headers.get(name, "") for name in signed},
            signed_headers=signed,
            payload_hash=payload_hash,
        )
        if not hmac.compare_digest(v3_signature(canonical, secret=secret), parsed.signature):
            raise ApiError(SIGNATURE_DOES_NOT_MATCH)
        self._spend_nonce(headers["x-acs-signature-nonce"], now)
        return Verified(
            parsed.access_key_id,
            headers["x-acs-action"],
            headers["x-acs-version"],
            "v3",
            {**query, **form},
        )

    def _secret(self, access_key_id: str) -> str:
        secret = self._access_keys.get(access_key_id)
        if secret is None:
            raise ApiError(ACCESS_KEY_NOT_FOUND)
        return secret

    def _check_clock(self, timestamp: str, now: float) -> None:
        if abs(now - parse_timestamp(timestamp)) > self._skew_tolerance_s:
            raise ApiError(TIMESTAMP_EXPIRED)

    def _spend_nonce(self, nonce: str, now: float) -> None:
        if not self._nonces.add(nonce, now):
            raise ApiError(NONCE_USED)


def _present_acs_headers(headers: Mapping[str, str]) -> frozenset[str]:
    return frozenset(lowered for name in headers if (lowered := name.lower()).startswith("x-acs-"))
