"""AWS's wire protocols as the fault proxy meets them: which service and action a request is, and an AWS error
in the format botocore parses for the request's protocol (query, rest-xml, json 1.0/1.1, rest-json, rpc-v2-cbor).
"""

from __future__ import annotations

import json
import re
import struct
import urllib.parse
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

# Signing names of the services a fault's service= may name by their client name.
SIGNING_ALIASES = {
    "elbv2": "elasticloadbalancing", "elb": "elasticloadbalancing", "efs": "elasticfilesystem",
    "cloudwatch": "monitoring", "stepfunctions": "states", "sfn": "states",
}
_IAM_PREFIX = {"monitoring": "cloudwatch"}
_CREDENTIAL_RE = re.compile(r"Credential=[^/,\s]+/\d{8}/[^/]+/([^/]+)/aws4_request")


@dataclass(frozen=True)
class FaultError:
    """An AWS error a fault answers with: its code and status in each protocol family."""

    fault: str
    json_code: str  # json / rest-json / smithy-rpc-v2-cbor
    query_code: str  # query / rest-xml / query-compatible json and cbor
    message: str
    json_status: int  # json and cbor RPC
    query_status: int  # query, rest-json, rest-xml, query-compatible
    sender: str = "Sender"  # who is at fault in a query error body: Sender (4xx) or Receiver (5xx)


def _cbor_head(major: int, length: int) -> bytes:
    if length < 24:
        return bytes([major << 5 | length])
    if length < 0x100:
        return bytes([major << 5 | 24, length])
    if length < 0x10000:
        return bytes([major << 5 | 25]) + struct.pack(">H", length)
    return bytes([major << 5 | 26]) + struct.pack(">I", length)


def cbor_text_map(values: dict[str, str]) -> bytes:
    """The one CBOR shape an rpc-v2-cbor error body needs: a map of text strings."""
    out = bytearray(_cbor_head(5, len(values)))
    for key, value in values.items():
        for text in (key, value):
            raw = text.encode()
            out += _cbor_head(3, len(raw)) + raw
    return bytes(out)


def error_response(error: FaultError, protocol: str, query_compatible: bool,
                   request_id: str, content_type: str = "") -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) in the wire format botocore parses for ``protocol`` (a JSON-protocol error answers
    in the request's own version, ``application/x-amz-json-1.0`` or ``-1.1``)."""
    headers = {"x-amzn-RequestId": request_id}
    if protocol in ("query", "rest-xml"):
        status = error.query_status
        code, message = escape(error.query_code), escape(error.message)
        if protocol == "rest-xml":  # S3
            body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}'
                    f"</Message><RequestId>{request_id}</RequestId></Error>")
        else:
            body = (f"<ErrorResponse><Error><Type>{error.sender}</Type><Code>{code}</Code><Message>{message}</Message>"
                    f"</Error><RequestId>{request_id}</RequestId></ErrorResponse>")
        headers["Content-Type"] = "text/xml"
        return status, headers, body.encode()
    rpc = protocol in ("json", "smithy-rpc-v2-cbor") and not query_compatible
    status = error.json_status if rpc else error.query_status  # RPC services answer 400 where REST says 403
    type_ = f"com.amazon.coral.service#{error.json_code}"
    if query_compatible:
        headers["x-amzn-query-error"] = f"{error.query_code};{error.sender}"
    if protocol == "smithy-rpc-v2-cbor":
        headers["smithy-protocol"] = "rpc-v2-cbor"
        headers["Content-Type"] = "application/cbor"
        return status, headers, cbor_text_map({"__type": type_, "message": error.message})
    headers["x-amzn-ErrorType"] = error.json_code
    json_version = (content_type if content_type.startswith("application/x-amz-json-1.")
                    else "application/x-amz-json-1.0")
    headers["Content-Type"] = json_version if protocol == "json" else "application/json"
    return status, headers, json.dumps({"__type": type_, "message": error.message}).encode()


def request_protocol(headers: Any, service: str) -> str:
    """The wire protocol of a request, from what botocore put on it."""
    if str(headers.get("smithy-protocol", "")).lower() == "rpc-v2-cbor":
        return "smithy-rpc-v2-cbor"
    if headers.get("X-Amz-Target"):
        return "json"
    if str(headers.get("Content-Type", "")).startswith("application/x-www-form-urlencoded"):
        return "query"
    if service == "s3":
        return "rest-xml"
    return "rest-json"


def signing_service(headers: Any, path: str) -> str | None:
    """The SigV4 signing name (``ecs``, ``monitoring``, ``elasticloadbalancing``...), from the credential scope."""
    match = _CREDENTIAL_RE.search(str(headers.get("Authorization", "")))
    if match:
        return match.group(1)
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
    credential = (query.get("X-Amz-Credential") or [""])[0].split("/")
    return credential[3] if len(credential) == 5 else None

def iam_action(headers: Any, command: str, path: str, body: bytes, service: str) -> str:
    """The IAM-style action of a request (``ecs:UpdateService``); REST services without an action name give the
    HTTP method (``s3:GET``)."""
    prefix = _IAM_PREFIX.get(service, service)
    target = headers.get("X-Amz-Target")
    if target:
        return f"{prefix}:{target.rsplit('.', 1)[-1]}"
    form: dict[str, list[str]] = {}
    if headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
        form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
    form.update(urllib.parse.parse_qs(urllib.parse.urlsplit(path).query))
    if form.get("Action"):
        return f"{prefix}:{form['Action'][0]}"
    return f"{prefix}:{command}"
