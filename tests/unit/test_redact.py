"""Redaction: the Hermes token and secret-shaped values never reach a report, a log line or evidence.

The property tests are the guarantee ("a registered secret never survives, wherever it sits in the data");
the examples document the shapes masked by pattern when nobody registered the value.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.config import CanaryConfig
from harness.net.redact import MASK, Redactor
from harness.wiring import build_app

TOKEN = "hrm_4f9a2c7e1b"


def redactor(*secrets: str | None) -> Redactor:
    r = Redactor()
    for secret in secrets:
        r.register(secret)
    return r


def test_a_registered_secret_is_masked_everywhere_in_a_string() -> None:
    r = redactor(TOKEN)
    assert r.text(f"GET /hermes?x={TOKEN}&y={TOKEN}") == f"GET /hermes?x={MASK}&y={MASK}"
    assert r.text("nothing secret here") == "nothing secret here"


def test_too_short_or_empty_secrets_are_not_registered() -> None:
    r = redactor(None, "", "abc")
    assert r.text("abc abcd") == "abc abcd"


def test_the_longest_secret_wins_when_secrets_overlap() -> None:
    r = redactor("abcd", "abcdefgh")
    assert r.text("xx abcdefgh yy") == f"xx {MASK} yy"


@pytest.mark.parametrize(("text", "expected"), [
    ("Authorization: Bearer eyJhbGciOi.payload.sig", f"Authorization: {MASK}"),
    ("authorization=Basic dXNlcjpwYXNz", f"authorization={MASK}"),
    ('{"Authorization": "Bearer abc.def"}', f'{{"Authorization": "{MASK}"}}'),
    ('{"token": "t-123456", "ok": 1}', f'{{"token": "{MASK}", "ok": 1}}'),
    ('{"apiToken": "zzz999"}', f'{{"apiToken": "{MASK}"}}'),
    ("https://b.s3.amazonaws.com/k?X-Amz-Signature=abcdef0123&X-Amz-Credential=AKID%2F2026",
     f"https://b.s3.amazonaws.com/k?X-Amz-Signature={MASK}&X-Amz-Credential={MASK}"),
    ("https://x/cb?token=abc&api_key=k-1&password=hunter2", f"https://x/cb?token={MASK}&api_key={MASK}&password={MASK}"),
    ("key AKIAIOSFODNN7EXAMPLE used", f"key {MASK} used"),
    ("temporary ASIAABCDEFGHIJKLMNOP id", f"temporary {MASK} id"),
])
def test_secret_shapes_are_masked_by_pattern(text: str, expected: str) -> None:
    assert Redactor().text(text) == expected


def test_data_masks_sensitive_keys_whole_and_recurses() -> None:
    evidence: dict[str, Any] = {
        "headers": {"Authorization": "Bearer x", "Cookie": "sid=1", "x-api-key": "k", "Content-Type": "json"},
        "events": [f"task failed with {TOKEN}", ("tuple", TOKEN)],
        "status": 503,
        "healthy": False,
        "missing": None,
    }
    out = redactor(TOKEN).data(evidence)
    assert out["headers"] == {"Authorization": MASK, "Cookie": MASK, "x-api-key": MASK, "Content-Type": "json"}
    assert out["events"] == [f"task failed with {MASK}", ["tuple", MASK]]
    assert (out["status"], out["healthy"], out["missing"]) == (503, False, None)


def test_a_secret_used_as_a_dict_key_is_masked_too() -> None:
    out = redactor(TOKEN).data({f"https://alb/hermes?t={TOKEN}": 200})
    assert TOKEN not in repr(out)


def test_the_app_registers_the_hermes_token_before_anything_can_log_it() -> None:
    config = CanaryConfig(base_url="http://127.0.0.1:9")
    app = build_app(config, hermes_token=TOKEN, with_lock=False)
    assert app.redactor.text(f"401 for Bearer {TOKEN}") == f"401 for Bearer {MASK}"
    assert app.runner.redactor is app.redactor


# --- properties ------------------------------------------------------------------------------------------------

secrets = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="*"), min_size=4, max_size=40)
json_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=30))


def _embed(secret: str) -> st.SearchStrategy[str]:
    return st.builds(lambda a, b: a + secret + b, st.text(max_size=20), st.text(max_size=20))


@settings(max_examples=150, deadline=None)
@given(secret=secrets, data=st.data())
def test_property_a_registered_secret_never_survives_in_text(secret: str, data: st.DataObject) -> None:
    text = data.draw(_embed(secret))
    assert secret not in redactor(secret).text(text)


@settings(max_examples=60, deadline=None)
@given(secret=secrets, data=st.data())
def test_property_a_registered_secret_never_survives_in_nested_evidence(secret: str, data: st.DataObject) -> None:
    leaf = st.one_of(json_scalars, _embed(secret))
    key = st.one_of(st.text(max_size=10), _embed(secret))
    evidence = data.draw(st.recursive(leaf, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                                   st.dictionaries(key, inner, max_size=4)),
                                      max_leaves=8))
    assert secret not in repr(redactor(secret).data(evidence))


# --- issue 14.6: encodings of a secret, and excerpts cut after redaction ---------------------------------------

LONG = "hrm_live_5Jq2vX8nR4tY7wZ1aB3cD6eF9gH0kLmN/+=?&é"  # characters that every encoding treats differently


def _b64_core(encode: Any, prefix: bytes, secret: bytes, suffix: bytes) -> str:
    """The characters of ``encode(prefix + secret + suffix)`` that carry bits of the secret only."""
    text = encode(prefix + secret + suffix).decode()
    first = -(-8 * len(prefix) // 6)
    last = (8 * (len(prefix) + len(secret))) // 6
    return text[first:last]


@pytest.mark.parametrize("encode", [base64.b64encode, base64.urlsafe_b64encode])
@pytest.mark.parametrize("prefix", [b"", b"B", b"Be", b"Bearer ", b'{"authorization": "Bearer '])
def test_the_base64_of_a_secret_is_masked_alone_or_inside_a_longer_encoded_text(encode: Any, prefix: bytes) -> None:
    raw = LONG.encode()
    for suffix in (b"", b"\"}", b"x", b"xy"):
        encoded = encode(prefix + raw + suffix).decode()
        for text in (encoded, encoded.rstrip("="), f"echo: {encoded}; done"):
            out = redactor(LONG).text(text)
            assert MASK in out and _b64_core(encode, prefix, raw, suffix) not in out, (prefix, suffix, out)


@pytest.mark.parametrize("form", [
    quote(LONG, safe=""), re.sub("%[0-9A-F]{2}", lambda m: m.group().lower(), quote(LONG, safe="")),
    quote_plus(LONG), quote(LONG),
    json.dumps(LONG)[1:-1], LONG.encode().hex(), LONG.encode().hex().upper(),
])
def test_url_json_and_hex_encodings_of_a_secret_are_masked(form: str) -> None:
    out = redactor(LONG).text(f"GET /cb?t={form}&x=1 and body <{form}>")
    assert form not in out and out.count(MASK) >= 1


@settings(max_examples=120, deadline=None)
@given(secret=st.text(alphabet=st.characters(codec="utf-8", exclude_characters="*"), min_size=12, max_size=40),
       prefix=st.binary(max_size=9), suffix=st.binary(max_size=9), urlsafe=st.booleans())
def test_property_no_base64_character_run_carrying_only_the_secret_survives(secret: str, prefix: bytes,
                                                                           suffix: bytes, urlsafe: bool) -> None:
    encode = base64.urlsafe_b64encode if urlsafe else base64.b64encode
    raw = secret.encode("utf-8", errors="surrogatepass")
    out = redactor(secret).text(encode(prefix + raw + suffix).decode())
    assert _b64_core(encode, prefix, raw, suffix) not in out


@pytest.mark.parametrize("limit", [200, 300])
def test_an_excerpt_is_redacted_before_it_is_cut_so_a_straddling_token_leaks_nothing(limit: int) -> None:
    from harness.net.http import HttpResponse

    r = redactor(LONG)
    for offset in range(limit - len(LONG), limit + 1):
        body = ("." * offset + LONG + "." * 50).encode()
        response = HttpResponse(url="http://h/x", status=502, headers={}, body=body, elapsed_ms=1.0, redact=r.text)
        excerpt = response.excerpt(limit)
        assert len(excerpt) <= limit
        assert not any(LONG[i:i + 3] in excerpt for i in range(len(LONG) - 2)), (offset, excerpt[-60:])


def test_a_secrets_head_left_at_the_end_of_a_string_cut_before_redaction_is_masked() -> None:
    r = redactor(LONG)
    for keep in range(8, len(LONG)):
        assert r.text("body: " + LONG[:keep]) == f"body: {MASK}"
        assert r.text(LONG[-keep:] + " rest") == f"{MASK} rest"
    assert r.text("body: " + LONG[:7]) == "body: " + LONG[:7]  # too short to tell from ordinary text
    assert r.text("GET http://127.0.0.1:8080/hermes") == "GET http://127.0.0.1:8080/hermes"


# --- issue 14.7: URL credentials ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("GET https://user:hunter2@alb.example.com/hermes failed", f"GET https://{MASK}@alb.example.com/hermes failed"),
    ("redirect to http://hunter2@10.0.0.1:8080/x", f"redirect to http://{MASK}@10.0.0.1:8080/x"),
    ("wss://u:p@ss@edit.example.com/ws", f"wss://{MASK}@edit.example.com/ws"),
    ('{"url": "https://a:b@h"}', f'{{"url": "https://{MASK}@h"}}'),
    ("mailto-ish user@example.com and https://h/a@b", "mailto-ish user@example.com and https://h/a@b"),
])
def test_url_credentials_are_masked_wherever_a_url_appears(text: str, expected: str) -> None:
    assert Redactor().text(text) == expected
