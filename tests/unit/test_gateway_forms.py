"""The embedded gateway's reading of multipart forms: the fast path for plain text fields gives what the
standard library's MIME parser gives, and leaves every other kind of form to it."""

from __future__ import annotations

import httpx
from hypothesis import given, settings
from hypothesis import strategies as st
from urllib3 import encode_multipart_formdata

from sinks.gateway import _form_fields, _multipart_fields, _plain_multipart_fields

NAMES = st.from_regex(r"[A-Za-z0-9_.-]{1,20}", fullmatch=True)
# Anything a query or a bound parameter may hold, line breaks and blank lines included.
VALUES = st.text(st.characters(blacklist_categories=("Cs",)), max_size=300) | st.sampled_from(
    ["", "\r\n", "a\r\n\r\nb", "--", "x\r\n"]
)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(NAMES, VALUES, min_size=1, max_size=5))
def test_plain_fields_read_as_the_mime_parser_reads_them(fields: dict[str, str]) -> None:
    # urllib3 writes the forms clickhouse-connect sends for large queries and parameters.
    body, content_type = encode_multipart_formdata(fields)
    assert _plain_multipart_fields(content_type, body) == fields
    assert _multipart_fields(content_type, body) == fields
    assert _form_fields(content_type, body) == fields


def test_a_leak_lookup_form_takes_the_fast_path() -> None:
    ids = ",".join(f"phone:{i:032x}" for i in range(2_000))
    fields = {"query": "SELECT 1 WHERE 'x' IN splitByChar(',', {ids:String})", "param_ids": ids}
    body, content_type = encode_multipart_formdata(fields)
    assert _plain_multipart_fields(content_type, body) == fields


def test_other_forms_are_left_to_the_mime_parser() -> None:
    request = httpx.Request("POST", "http://x/", data={"query": "SELECT 1"}, files={"ext": ("ext.tsv", b"1\n")})
    body, content_type = request.read(), request.headers["Content-Type"]
    assert _plain_multipart_fields(content_type, body) is None  # a file: external data, refused by the other
    latin = (
        b'--b\r\nContent-Disposition: form-data; name="q"\r\nContent-Type: text/plain; charset=latin-1\r\n\r\n'
        b"caf\xe9\r\n--b--\r\n"
    )
    assert _plain_multipart_fields("multipart/form-data; boundary=b", latin) is None
    assert _form_fields("multipart/form-data; boundary=b", latin) == {"q": "café"}
    part = b'--b\r\nContent-Disposition: form-data; name="q"\r\n\r\nSELECT 1\r\n'
    unterminated = part + part.replace(b'"q"', b'"r"')  # cut off: no closing "--b--"
    assert _plain_multipart_fields("multipart/form-data; boundary=b", unterminated) is None
    assert _plain_multipart_fields("multipart/form-data", b"") is None  # no boundary
