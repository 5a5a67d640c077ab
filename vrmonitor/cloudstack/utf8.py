"""Text that came from bytes which were not all UTF-8, made safe for the contract's UTF-8 files.

Python hands such bytes over as lone surrogates: file names and argv are decoded with
surrogateescape (byte 0xff becomes U+DCFF), and json.loads reads "\\udcff" as the same
character. Encoding one as UTF-8 raises UnicodeEncodeError, which used to abort a whole health
run or alert write for one bad name. vrmonitor's rule: a name that is not UTF-8 is refused as
input (health check file names, monitor.conf), and free text (alert names and messages) is
written with each such byte as the four characters `\\xNN`, so every file stays UTF-8 and the
byte can still be told.
"""

import re

_SURROGATE = re.compile("[\ud800-\udfff]")
# surrogateescape maps byte 0xNN (0x80-0xff) to U+DCNN.
_ESCAPED_BYTES = range(0xDC80, 0xDD00)


def is_utf8(text: str) -> bool:
    """True when `text` holds no character that stands for a byte that was not UTF-8."""
    return _SURROGATE.search(text) is None


def escaped(text: str, backslash: str = "\\") -> str:
    """`text` with each byte that was not UTF-8 as `\\xNN` (any other lone surrogate as
    `\\uNNNN`); everything else unchanged.

    backslash: what to write for the backslash, e.g. "\\\\" inside a JSON document, where a
    bare `\\x` is not a valid escape.
    """
    def one(match: re.Match) -> str:
        code = ord(match.group())
        if code in _ESCAPED_BYTES:
            return f"{backslash}x{code - 0xDC00:02x}"
        return f"{backslash}u{code:04x}"

    return _SURROGATE.sub(one, text)
