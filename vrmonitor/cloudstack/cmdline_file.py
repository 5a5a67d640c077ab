"""/var/cache/cloud/cmdline's `key=value` tokens, and the role and name they give: what
`vrmonitor status` shows, without cmdline.py's imports (dataclasses, typing, pathlib)."""

from vrmonitor.locations import CMDLINE, under


def parse_tokens(text: str) -> dict[str, str]:
    """key -> value of every `key=value` token (a later key wins, as a shell reader's would)."""
    found: dict[str, str] = {}
    for token in text.split():
        key, sep, value = token.partition("=")
        if sep and key:
            found[key] = value
    return found


def read_tokens(root: str) -> dict[str, str] | None:
    """The tokens of the file under root folder `root`; None when it cannot be read."""
    try:
        with open(under(root, CMDLINE), "rb") as handle:
            return parse_tokens(handle.read().decode("utf-8", "replace"))
    except OSError:
        return None


def role_of(tokens) -> str | None:
    """`type`: router, vpcrouter, secstorage, consoleproxy, ...; None when unknown."""
    return tokens.get("type") or None


def name_of(tokens) -> str | None:
    """The instance name (`r-4-VM`, `s-1-VM`, `v-2-VM`), None when absent."""
    return tokens.get("name") or None
