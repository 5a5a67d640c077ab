"""Strategies that damage a valid document the way disks, editors and attackers do.

`mutated(documents)` draws a valid document (bytes) and applies a few edits: a flipped byte,
a cut, a truncation, a duplicated slice, or an inserted nasty token (NUL, CR, a BOM, unicode,
invalid UTF-8, NaN, a 5000-digit number, a 100 kB line, 5000 open brackets). Valid documents
reach deep into a parser; the edits then probe every branch on the way.
"""

from hypothesis import strategies as st

NASTY = (
    b"\x00", b"\r", b"\r\n", b"\n", b"\n\n", b"\t", b" ", b"\xef\xbb\xbf", "\u2028".encode(),
    "\u0085".encode(), "é".encode(), "\U0001f600".encode(), "\u0663".encode(), b"\xff", b"\xc3",
    b"\xed\xa0\x80", b"=", b":", b";", b",", b"[", b"]", b"{", b"}", b'"', b"'", b"\\", b"\\n",
    b"#", b"%", b"&&", b"NaN", b"Infinity", b"-Infinity", b"nan", b"inf", b"-inf", b"1e999",
    b"-0", b"0x1f", b"1_000", b"true", b"null", b"9" * 5000, b"x" * 100_000, b"[" * 5000,
    b"{\"a\":" * 3000, b"a = " + b"[" * 3000, b"[a." * 2000,
)

# Text without surrogates (they cannot be encoded) or NUL (argv cannot hold it).
TEXT_CHARACTERS = st.characters(min_codepoint=1, max_codepoint=0xD7FF) | st.characters(
    min_codepoint=0xE000, max_codepoint=0x10FFFF)


@st.composite
def mutated(draw, documents, max_edits: int = 4):
    data = bytearray(draw(documents))
    for _ in range(draw(st.integers(0, max_edits))):
        edit = draw(st.sampled_from(("flip", "cut", "truncate", "duplicate", "insert", "insert")))
        at = draw(st.integers(0, len(data)))
        if edit == "flip" and data:
            at = min(at, len(data) - 1)
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif edit == "cut":
            del data[at:at + draw(st.integers(1, 16))]
        elif edit == "truncate":
            del data[at:]
        elif edit == "duplicate":
            data[at:at] = data[at:at + draw(st.integers(1, 64))]
        else:
            data[at:at] = draw(st.sampled_from(NASTY) | st.binary(min_size=1, max_size=8))
    return bytes(data)


def json_values(max_leaves: int = 6):
    """Any JSON value, including the floats Python's json writes but JSON does not have."""
    scalars = (st.none() | st.booleans() | st.integers() | st.floats()
               | st.text(TEXT_CHARACTERS, max_size=20))
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                        | st.dictionaries(st.text(TEXT_CHARACTERS, max_size=8), inner, max_size=3),
                        max_leaves=max_leaves)
