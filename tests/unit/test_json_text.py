"""system/json_text.loads is json.loads: the same value, or the same exception with the same
message, for valid documents, every kind of damage and other encodings."""

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vrmonitor.system.json_text import loads, quoted


def reject(name):
    raise ValueError(f"{name} is not a JSON number")


def outcome(function, data, parse_constant=None):
    try:
        value = function(data, parse_constant=parse_constant)
    except (ValueError, RecursionError) as exc:
        return type(exc), str(exc)
    return "value", json.dumps(value, sort_keys=False), repr(value)


SAMPLES = [
    b'{"pid": 12, "services": {"a": {"state": "up", "since": 1.5}}}', b" \n\t{}\r\n ", b"[]",
    b"", b"   ", b'{"pid": 12, "services": ', b"{} x", b"{}{}", b"NaN", b"[Infinity, -Infinity]",
    b'"\xff"', b'"\xed\xa0\x80"', b"\xef\xbb\xbf{}", '{"a": 1}'.encode("utf-16"),
    '{"a": 1}'.encode("utf-32"), '{"a": 1}'.encode("utf-16-le"), '{"a": 1}'.encode("utf-16-be"),
    b"1" * 5000, b"[" * 100_000, b'{"a": "\\ud800"}', b'{"a":\x01}', b'"tab\there"', b"1e400",
    b"-0", b"0012", b"[1,]", b'{"a" 1}', b"tru", b"\x00\x00\x00[", b"7",
]


@pytest.mark.parametrize("data", SAMPLES + [sample.decode("latin-1") for sample in SAMPLES]
                         + ["\ufeff{}"])
@pytest.mark.parametrize("parse_constant", [None, reject])
def test_the_same_as_json_loads(data, parse_constant):
    assert outcome(loads, data, parse_constant) == outcome(json.loads, data, parse_constant)


def test_constants_are_json_s():
    assert math.isnan(loads(b"NaN")) and loads(b"-Infinity") == -math.inf


documents = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(documents, st.sampled_from([None, 1]), st.binary(max_size=3))
def test_any_document_or_damage_the_same_as_json_loads(document, indent, noise):
    text = json.dumps(document, indent=indent).encode()
    for data in (text, text + noise, noise + text, text[: len(text) // 2]):
        assert outcome(loads, data) == outcome(json.loads, data)
        assert outcome(loads, data, reject) == outcome(json.loads, data, reject)


def test_the_same_in_a_process_that_has_not_imported_json():
    """The scanner finds its error type in json.decoder: in a fresh process (an entry point's)
    that is not imported yet, and json.loads' error must still be the one raised."""
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import sys\n"
        "from vrmonitor.system.json_text import loads\n"
        "assert loads(b'{\"a\": [1, 2.5]}') == {'a': [1, 2.5]} and 'json' not in sys.modules\n"
        "for data in sys.argv[1:]:\n"
        "    try:\n"
        "        print(repr(loads(data.encode())))\n"
        "    except ValueError as exc:\n"
        "        print(type(exc).__name__, exc)\n")
    samples = ["{} x", '{"pid": 12, "services": ', "", "[1,]", "tru", "1" * 5000]
    done = subprocess.run([sys.executable, "-c", code, *samples], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[2], timeout=60)
    expected = []
    for data in samples:
        try:
            expected.append(repr(json.loads(data.encode())))
        except ValueError as exc:
            expected.append(f"{type(exc).__name__} {exc}")
    assert (done.returncode, done.stderr, done.stdout.splitlines()) == (0, "", expected)


@given(st.text())
def test_quoted_is_json_dumps(text):
    assert quoted(text) == json.dumps(text, ensure_ascii=False)
