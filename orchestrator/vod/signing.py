"""Alibaba Cloud RPC request signatures: V1 (HMAC-SHA1) and V3 (ACS3-HMAC-SHA256).

Pure functions: the clock and the nonce are arguments, so every result is reproducible and
the documented test vectors are unit tests. Both the client (to sign) and the emulator (to
verify) use these functions.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import quote

API_VERSION = "2017-03-21"
V3_ALGORITHM = "ACS3-HMAC-SHA256"
_UNRESERVED_OR_COMMA = re.compile(r"[A-Za-z0-9\-_.~,]*")
# Hex SHA-256 of an empty body: every request we send carries its parameters in the query.
EMPTY_PAYLOAD_SHA256 = hashlib.sha256(b"").hexdigest()


@dataclass(frozen=True, slots=True)
class Credentials:
    """An access key pair, optionally with an STS security token.

    The secret and the token are kept out of `repr` so that logging the object leaks nothing.
    """

    access_key_id: str
    access_key_secret: str = field(repr=False)
    security_token: str | None = field(default=None, repr=False)


def percent_encode(value: str) -> str:
    """RFC 3986 encoding of UTF-8: keep `A-Z a-z 0-9 - _ . ~`, upper-case `%XY` for the rest."""
    # Fast paths for IDs, dates and comma-joined ID lists (every status call): quote() walks
    # a value character by character as soon as it needs a single escape.
    if _UNRESERVED_OR_COMMA.fullmatch(value):
        return value.replace(",", "%2C")
    return quote(value, safe="~", encoding="utf-8")


def canonical_query(params: Mapping[str, str]) -> str:
    """Sorted `name=value` pairs, both percent-encoded, joined by `&` (empty value -> `name=`)."""
    return "&".join(
        f"{percent_encode(name)}={percent_encode(params[name])}" for name in sorted(params)
    )


def format_timestamp(now: datetime) -> str:
    """The `YYYY-MM-DDThh:mm:ssZ` UTC form both signature versions require."""
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- V1 -------------------------------------------------------------------------------------

# The parameters sign_v1 sets itself; an operation parameter of the same name is a mistake.
_V1_COMMON = frozenset(
    {
        "Action",
        "Version",
        "Format",
        "AccessKeyId",
        "SignatureMethod",
        "SignatureVersion",
        "SignatureNonce",
        "Timestamp",
        "SecurityToken",
        "Signature",
    }
)


def v1_string_to_sign(params: Mapping[str, str], *, method: str) -> str:
    return f"{method.upper()}&%2F&{percent_encode(canonical_query(params))}"


def v1_signature(params: Mapping[str, str], *, method: str, secret: str) -> str:
    """Base64 HMAC-SHA1 over the V1 string to sign; `params` must not contain `Signature`."""
    digest = hmac.new(
        f"{secret}&".encode(), v1_string_to_sign(params, method=method).encode(), hashlib.sha1
    ).digest()
    return base64.b64encode(digest).decode("ascii")


def sign_v1(
    action: str,
    params: Mapping[str, str],
    *,
    credentials: Credentials,
    method: str,
    now: datetime,
    nonce: str,
) -> dict[str, str]:
    """The full query of a V1-signed call: operation and common parameters plus `Signature`."""
    reserved = _V1_COMMON.intersection(params)
    if reserved:
        raise ValueError(f"operation parameters may not set {sorted(reserved)}")
    query = {
        **params,
        "Action": action,
        "Version": API_VERSION,
        "Format": "JSON",
        "AccessKeyId": credentials.access_key_id,
        "SignatureMethod": "HMAC-SHA1",
        "SignatureVersion": "1.0",
        "SignatureNonce": nonce,
        "Timestamp": format_timestamp(now),
    }
    if credentials.security_token:
        query["SecurityToken"] = credentials.security_token
    query["Signature"] = v1_signature(query, method=method, secret=credentials.access_key_secret)
    return query


# --- V3 -------------------------------------------------------------------------------------


def v3_signed_header_names(headers: Iterable[str]) -> list[str]:
    """The headers V3 signs: `host`, `content-type` if present, and every `x-acs-*`."""
    names = {name.lower() for name in headers}
    return sorted(n for n in names if n in ("host", "content-type") or n.startswith("x-acs-"))


def v3_canonical_request(
    *,
    method: str,
    path: str,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    signed_headers: Iterable[str],
    payload_hash: str,
) -> str:
    """The V3 canonical request over the named `signed_headers` (looked up case-insensitively)."""
    lowered = {name.lower(): value for name, value in headers.items()}
    names = sorted(name.lower() for name in signed_headers)
    canonical_headers = "".join(f"{name}:{lowered.get(name, '').strip()}\n" for name in names)
    return "\n".join(
        [
            method.upper(),
            path or "/",
            canonical_query(query),
            canonical_headers,
            ";".join(names),
            payload_hash,
        ]
    )


def v3_signature(canonical_request: str, *, secret: str) -> str:
    """Hex HMAC-SHA256 (key: the bare secret) over the V3 string to sign."""
    hashed = hashlib.sha256(canonical_request.encode()).hexdigest()
    string_to_sign = f"{V3_ALGORITHM}\n{hashed}"
    return hmac.new(secret.encode(), string_to_sign.encode(), hashlib.sha256).hexdigest()


def v3_authorization(access_key_id: str, signed_headers: Iterable[str], signature: str) -> str:
    return (
        f"{V3_ALGORITHM} Credential={access_key_id},"
        f"SignedHeaders={';'.join(signed_headers)},Signature={signature}"
    )


@dataclass(frozen=True, slots=True)
class V3Authorization:
    """The parts of a V3 `Authorization` header."""

    access_key_id: str
    signed_headers: tuple[str, ...]
    signature: str


def parse_v3_authorization(value: str) -> V3Authorization | None:
    """Split an `Authorization` header; `None` when it is not a complete V3 value."""
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != V3_ALGORITHM:
        return None
    parts: dict[str, str] = {}
    for item in rest.split(","):
        name, sep, part = item.strip().partition("=")
        if sep:
            parts[name] = part
    try:
        return V3Authorization(
            access_key_id=parts["Credential"],
            signed_headers=tuple(h for h in parts["SignedHeaders"].split(";") if h),
            signature=parts["Signature"],
        )
    except KeyError:
        return None


def sign_v3(
    action: str,
    params: Mapping[str, str],
    *,
    credentials: Credentials,
    host: str,
    method: str,
    now: datetime,
    nonce: str,
) -> dict[str, str]:
    """The headers of a V3-signed call whose operation parameters travel in the query."""
    headers = {
        "host": host,
        "x-acs-action": action,
        "x-acs-version": API_VERSION,
        "x-acs-date": format_timestamp(now),
        "x-acs-signature-nonce": nonce,
        "x-acs-content-sha256": EMPTY_PAYLOAD_SHA256,
    }
    if credentials.security_token:
        headers["x-acs-security-token"] = credentials.security_token
    names = v3_signed_header_names(headers)
    canonical = v3_canonical_request(
        method=method,
        path="/",
        query=params,
        headers=headers,
        signed_headers=names,
        payload_hash=EMPTY_PAYLOAD_SHA256,
    )
    signature = v3_signature(canonical, secret=credentials.access_key_secret)
    headers["Authorization"] = v3_authorization(credentials.access_key_id, names, signature)
    return headers
