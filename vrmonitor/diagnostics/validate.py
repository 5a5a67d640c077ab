"""What `diagnostics.py` lets through to ping, arping and traceroute, and what it refuses.

The management server checks the diagnostics type and the optional parameters
(`^[\\w\\-\\s.]+$`) but not the address, and the VM's login shell re-splits the whole string. So
everything is checked again here, before anything runs:

- TYPE: one of TOOLS, case-insensitive (the MS lower-cases it).
- ADDRESS (the first argument after TYPE): an IP address the tool takes, as the Debian tools
  do: either family for ping and traceroute (they pick the family from the address; `-4` and
  `-6` decide for names), IPv6 only (with an optional %scope) for ping6 and traceroute6, IPv4
  only for arping; or a host name made of RFC 1123 labels whose last label is not all digits
  (so `127.1` or `0x7f.1`, which inet_aton would read as addresses, are refused too).
- every other argument: only ASCII letters, digits, `_`, `-` and `.` (the MS's rule without the
  whitespace: the shell has already split on it, so whitespace inside an argument means it was
  smuggled in quoted), and together an option list of the tool's documented options
  (tool-output-conventions.md), read the way getopt reads them (`-nq`, `-c5`, options before or
  after the address). Anything else, flood ping's `-f` included, is refused.

The defaults of the reference are added afterwards (`with_defaults`), and the tool's own parse()
has the last word on the final argument list (`Tool.parse`).
"""

import importlib
import ipaddress
import re
from dataclasses import dataclass
from typing import NotRequired, Sequence, TypedDict

from vrmonitor.diagnostics.toolkit import ToolExit
from vrmonitor.errors import DiagnosticError

# One argument after the shell split: the MS's parameter rule, minus whitespace.
ARGUMENT = re.compile(r"[A-Za-z0-9_.\-]+")
LABEL = r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)"
HOST_NAME = re.compile(rf"{LABEL}(?:\.{LABEL})*\.?")
HOST_NAME_MAX = 253
SCOPE = re.compile(r"[A-Za-z0-9_.\-]{1,15}")


@dataclass(frozen=True)
class Tool:
    """One diagnostics tool: where it is implemented and what diagnostics.py lets through."""

    name: str
    module: str  # has parse(argv[, family]) and main(argv[, family], stdout, stderr)
    family: int | None  # passed to parse() and main(); None: the module takes no family
    address_families: tuple[int, ...]  # IP versions of the address literals it takes
    default: tuple[str, str]  # added when no argument is exactly default[0]
    flags: str  # documented options without a value
    valued: str  # documented options that take a value
    packet_length: bool = False  # a numeric second operand is allowed (traceroute)
    check_only: tuple[tuple[str, object], ...] = ()  # parse() keywords for a check (no DNS)

    def load(self):
        """The implementing module (ImportError when it is missing or broken)."""
        return importlib.import_module(self.module)

    def parse(self, argv: Sequence[str]):
        """The tool's own parse() of `argv`, as a check that looks nothing up; ToolExit with
        the tool's message and exit status when it refuses."""
        if self.family is None:
            return self.load().parse(list(argv), **dict(self.check_only))
        return self.load().parse(list(argv), family=self.family, **dict(self.check_only))

    def main(self, argv: Sequence[str], stdout, stderr) -> int:
        if self.family is None:
            return self.load().main(list(argv), stdout=stdout, stderr=stderr)
        return self.load().main(list(argv), family=self.family, stdout=stdout, stderr=stderr)


class _Shared(TypedDict):
    """The Tool fields a tool's IPv4 and IPv6 variants share."""

    module: str
    default: tuple[str, str]
    valued: str
    packet_length: NotRequired[bool]
    check_only: NotRequired[tuple[tuple[str, object], ...]]


_PING: _Shared = dict(module="vrmonitor.diagnostics.ping", default=("-c", "4"), valued="ciWwsIt")
_TRACEROUTE: _Shared = dict(module="vrmonitor.diagnostics.traceroute", default=("-m", "20"),
                            valued="mqNwisf", packet_length=True, check_only=(("resolve", False),))

TOOLS = {tool.name: tool for tool in (
    Tool("ping", family=4, address_families=(4, 6), flags="nqD46", **_PING),
    Tool("ping6", family=6, address_families=(6,), flags="nqD6", **_PING),
    Tool("arping", "vrmonitor.diagnostics.arping", None, (4,), default=("-c", "4"),
         flags="fDUAbq", valued="Icwsi"),
    Tool("traceroute", family=4, address_families=(4, 6), flags="ITn46", **_TRACEROUTE),
    Tool("traceroute6", family=6, address_families=(6,), flags="ITn6", **_TRACEROUTE),
)}
TYPES_TEXT = "ping, ping6, arping, traceroute or traceroute6"


@dataclass(frozen=True)
class Request:
    """A checked diagnostics request: the tool and its final arguments (defaults added)."""

    tool: Tool
    argv: tuple[str, ...]


def request(args: Sequence[str]) -> Request:
    """Check `TYPE ADDRESS [PARAMS...]` as diagnostics.py receives them; add the defaults.

    Raises DiagnosticError with a one-line reason for anything not let through.
    """
    if not args:
        raise DiagnosticError(f"no diagnostics type given (expected {TYPES_TEXT})")
    tool = TOOLS.get(args[0].lower())
    if tool is None:
        raise DiagnosticError(f"unknown diagnostics type {args[0]!r} (expected {TYPES_TEXT})")
    if len(args) < 2:
        raise DiagnosticError(f"{tool.name}: no address given")
    check_address(tool, args[1])
    params = list(args[2:])
    for param in params:
        if not ARGUMENT.fullmatch(param):
            raise DiagnosticError(
                f"{tool.name}: parameter {param!r} is refused: only letters, digits, '_', '-' "
                f"and '.' are allowed")
    final = with_defaults(tool, [args[1], *params])
    check_options(tool, final)
    return Request(tool, tuple(final))


def exit_status(error: DiagnosticError, default: int = 2) -> int:
    """The exit status a tool's ToolExit carries; `default` for any other DiagnosticError."""
    return error.status if isinstance(error, ToolExit) else default


def with_defaults(tool: Tool, argv: list[str]) -> list[str]:
    """The reference's defaults: `-c 4` / `-m 20` appended unless an argument is exactly the option."""
    option, value = tool.default
    return argv if option in argv else [*argv, option, value]


def check_address(tool: Tool, address: str) -> None:
    """An IP address of the tool's family or a host name; DiagnosticError otherwise."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        ip = None
    if ip is not None:
        if ip.version not in tool.address_families:
            other = {"ping6": "ping", "traceroute6": "traceroute"}.get(tool.name)
            hint = f"; use type {other}" if other else ""
            raise DiagnosticError(f"{tool.name}: {address} is an IPv{ip.version} address{hint}")
        if ip.version == 6 and ip.scope_id is not None and not SCOPE.fullmatch(ip.scope_id):
            raise DiagnosticError(f"{tool.name}: {address!r} has an invalid scope")
        return
    if is_host_name(address):
        return
    kind = ("an IP address" if len(tool.address_families) > 1
            else f"an IPv{tool.address_families[0]} address")
    raise DiagnosticError(f"{tool.name}: address {address!r} is refused: not {kind} or a host name")


def is_host_name(text: str) -> bool:
    """RFC 1123 host name; the last label must not be all digits (no inet_aton shorthands)."""
    if not HOST_NAME.fullmatch(text) or len(text.rstrip(".")) > HOST_NAME_MAX:
        return False
    return not text.rstrip(".").rsplit(".", 1)[-1].isdigit()


def check_options(tool: Tool, argv: Sequence[str]) -> None:
    """argv (address first) read as getopt would; only documented options, one address.

    Option values are not judged here (the tool's parse() does that); an option that takes a
    value swallows the next argument when nothing is attached (`-c 5`, `-c5`).
    """
    operands = []
    index = 0
    while index < len(argv):
        arg = argv[index]
        index += 1
        if arg.startswith("--") or arg == "-":
            raise DiagnosticError(f"{tool.name}: option {arg!r} is not allowed "
                                  f"(allowed: {_allowed(tool)})")
        if not arg.startswith("-"):
            operands.append(arg)
            continue
        for position, letter in enumerate(arg[1:], start=1):
            if letter in tool.valued:
                if position == len(arg) - 1:  # the value is the next argument
                    if index >= len(argv):
                        raise DiagnosticError(f"{tool.name}: option -{letter} needs a value")
                    index += 1
                break
            if letter not in tool.flags:
                raise DiagnosticError(f"{tool.name}: option -{letter} is not allowed "
                                      f"(allowed: {_allowed(tool)})")
    extra = operands[1:]
    if tool.packet_length and len(extra) == 1 and extra[0].isdigit():
        extra = []
    if extra:
        raise DiagnosticError(f"{tool.name}: unexpected argument {extra[0]!r} "
                              f"(one address, then options)")


def _allowed(tool: Tool) -> str:
    return " ".join(f"-{letter}" for letter in tool.valued + tool.flags)
