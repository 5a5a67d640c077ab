"""JSON decoded without importing the json package, whose decoder imports re (and with it
enum): about half the cost of the interpreter's own start, paid by cron's hand-off to the
daemon and `vrmonitor status` for two small files.

The decoding is json.loads' own: the same C scanner (_json.make_scanner) with the same
settings. Whatever is not plain valid UTF-8 JSON (a byte order mark, UTF-16 or UTF-32, any
error) is handed to json.loads itself, so the value, or the exception, is always json.loads'.
"""

_CONSTANTS = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}
_BLANK = " \t\n\r"  # json's whitespace
# What makes json.loads read bytes as other than UTF-8 without a byte order mark.
_NOT_UTF8_STARTS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")


class _Settings:
    """The attributes the scanner reads from a json.JSONDecoder, as json.loads sets them."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int

    def __init__(self, parse_constant):
        self.parse_constant = parse_constant or _CONSTANTS.__getitem__
        self.memo: dict = {}


def loads(data: str | bytes, parse_constant=None):
    """json.loads(data, parse_constant=parse_constant)."""
    text = _plain_text(data)
    if text is not None:
        try:
            from _json import make_scanner
        except ImportError:  # an interpreter without json's C accelerator
            pass
        else:
            start = len(text) - len(text.lstrip(_BLANK))
            try:
                scan = make_scanner(_Settings(parse_constant))  # type: ignore[arg-type]  # duck-typed
                value, end = scan(text, start)
            except (StopIteration, ValueError, RecursionError, SystemError):
                # json.loads below raises its own error. (The scanner raises JSONDecodeError,
                # which it finds in json.decoder once imported; before, a SystemError.)
                pass
            else:
                if not text[end:].strip(_BLANK):
                    return value
    import json

    return json.loads(data, parse_constant=parse_constant)


def _plain_text(data: str | bytes) -> str | None:
    """data as json.loads would read it when that is as UTF-8 with no byte order mark; else None."""
    if isinstance(data, str):
        return None if data.startswith("\ufeff") else data
    if data.startswith(_NOT_UTF8_STARTS) or b"\x00" in data[:4]:
        return None
    try:
        return data.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        return None


def quoted(text: str) -> str:
    """json.dumps(text, ensure_ascii=False), by the function json.dumps itself uses."""
    try:
        from _json import encode_basestring
    except ImportError:
        import json

        return json.dumps(text, ensure_ascii=False)
    return encode_basestring(text)
