"""traceroute's command line, read as Butskoy traceroute 2.1.2 reads it (its clif library):
the option table, short groups and long options, the handlers' C conversions, the checks
main() makes after parsing. Resolution of the host (and -s) happens here too, as in
traceroute, unless parse() is told not to.
"""

import os
import socket
from dataclasses import dataclass, replace
from typing import TypedDict, cast

from vrmonitor.diagnostics.toolkit import ToolExit, c_strtod, c_strtoul

MAX_HOPS = 255
MAX_PROBES = 10
DEF_HOPS = 30
DEF_SIM_PROBES = 16
DEF_NUM_PROBES = 3
DEF_WAIT_SECS = 5.0
DEF_HERE_FACTOR = 3.0
DEF_NEAR_FACTOR = 10.0
MAX_PACKET_LEN = 65000
UINT_MASK = 0xFFFFFFFF

VERSION = ("Modern traceroute for Linux, version 2.1.2 (compatible implementation: "
           "vrmonitor {version}, scapy)")

USAGE = """\
Usage:
  traceroute [ -46dFITnr ] [ -f first_ttl ] [ -i device ] [ -m max_ttl ] [ -N squeries ] [ -p port ] [ -t tos ] [ -w MAX,HERE,NEAR ] [ -q nqueries ] [ -s src_addr ] [ -z sendwait ] [ --fwmark=num ] host [ packetlen ]
Options:
  -4                          Use IPv4
  -6                          Use IPv6
  -d  --debug                 Enable socket level debugging
  -F  --dont-fragment         Do not fragment packets
  -f first_ttl  --first=first_ttl
                              Start from the first_ttl hop (instead from 1)
  -I  --icmp                  Use ICMP ECHO for tracerouting
  -T  --tcp                   Use TCP SYN for tracerouting (default port is 80)
  -i device  --interface=device
                              Specify a network interface to operate with
  -m max_ttl  --max-hops=max_ttl
                              Set the max number of hops (max TTL to be
                              reached). Default is 30
  -N squeries  --sim-queries=squeries
                              Set the number of probes to be tried
                              simultaneously (default is 16)
  -n                          Do not resolve IP addresses to their domain names
  -p port  --port=port        Set the destination port to use. It is either
                              initial udp port value for "default" method
                              (incremented by each probe, default is 33434), or
                              initial seq for "icmp" (incremented as well,
                              default from 1), or some constant destination
                              port for "tcp" (default 80)
  -t tos  --tos=tos           Set the TOS (IPv4 type of service) or TC (IPv6
                              traffic class) value for outgoing packets
  -w MAX,HERE,NEAR  --wait=MAX,HERE,NEAR
                              Wait for a probe no more than HERE (default 3)
                              times longer than a response from the same hop,
                              or no more than NEAR (default 10) times than some
                              next hop, or MAX (default 5.0) seconds (float
                              point values allowed too)
  -q nqueries  --queries=nqueries
                              Set the number of probes per each hop. Default is
                              3
  -r                          Bypass the normal routing and send directly to a
                              host on an attached network
  -s src_addr  --source=src_addr
                              Use source src_addr for outgoing packets
  -z sendwait  --sendwait=sendwait
                              Minimal time interval between probes (default 0).
                              If the value is more than 10, then it specifies a
                              number in milliseconds, else it is a number of
                              seconds (float point values allowed too)
  -M name  --module=name      Use specified module: default, icmp or tcp
  --sport=num                 Use source port num for outgoing packets. Implies
                              `-N 1'
  --fwmark=num                Set firewall mark for outgoing packets
  --back                      Guess the number of hops in the backward path and
                              print if it differs
  -V  --version               Print version info and exit
  --help                      Read this help and exit

Arguments:
+     host          The host to traceroute to
      packetlen     The full packet length (default is the length of an IP
                    header plus 40). Can be ignored or increased to a minimal
                    allowed value"""


@dataclass(frozen=True)
class TracerouteOptions:
    """The command line as traceroute's globals hold it after parsing (defaults included)."""

    host: str = ""  # as given: it is printed in the header
    address: str = ""  # numeric destination (empty when parse() was told not to resolve)
    family: int = 0  # socket.AF_INET or AF_INET6; 0 before the host is resolved
    method: str = "default"  # "default" (UDP), "icmp" (-I) or "tcp" (-T)
    first_hop: int = 1
    max_hops: int = DEF_HOPS
    sim_probes: int = DEF_SIM_PROBES
    probes_per_hop: int = DEF_NUM_PROBES
    wait: float = DEF_WAIT_SECS
    here: float = DEF_HERE_FACTOR
    near: float = DEF_NEAR_FACTOR
    send_wait: float = 0.0  # -z, seconds
    port: int = 0  # -p; 0: the method's default
    src_port: int = 0  # --sport
    numeric: bool = False  # -n
    device: str | None = None  # -i
    source: str | None = None  # -s, numeric
    source_family: int = 0
    tos: int = 0
    fwmark: int = 0
    packet_len: int = -1  # the packetlen operand; -1: default
    dontfrag: bool = False  # -F
    dontroute: bool = False  # -r
    debug: bool = False  # -d
    back: bool = False  # --back
    action: str = "trace"  # "help" or "version": print that and exit 0


# -- C conversions, as clif's handlers use them (toolkit: strtoul, strtod) -------------------

def _uint(text: str) -> int | None:
    value, used = c_strtoul(text)
    return value & UINT_MASK if used and used == len(text) else None


def _int(text: str) -> int | None:
    value, used = c_strtoul(text, signed=True)
    if not used or used != len(text):
        return None
    value &= UINT_MASK
    return value - 2**32 if value >= 2**31 else value


def _double(text: str) -> float | None:
    value, used = c_strtod(text)
    return value if used and used == len(text) else None


# -- the command line: clif's rules --------------------------------------------------------

@dataclass(frozen=True)
class _Option:
    short: str | None
    long: str | None
    arg: str | None  # the argument's name, None for a flag
    action: str
    value: object = None
    abbrev: bool = False  # CLIF_ABBREV
    one_dash: bool = False  # CLIF_ONEDASH (-UL)


# In traceroute's order: clif searches short options in this order.
OPTIONS = (
    _Option("4", None, None, "af", 4),
    _Option("6", None, None, "af", 6),
    _Option("d", "debug", None, "flag", "debug"),
    _Option("F", "dont-fragment", None, "flag", "dontfrag", abbrev=True),
    _Option("f", "first", "first_ttl", "uint", "first_hop"),
    _Option("g", "gateway", "gate", "unsupported"),
    _Option("I", "icmp", None, "method", "icmp"),
    _Option("T", "tcp", None, "method", "tcp"),
    _Option("i", "interface", "device", "string", "device"),
    _Option("m", "max-hops", "max_ttl", "uint", "max_hops"),
    _Option("N", "sim-queries", "squeries", "uint", "sim_probes"),
    _Option("n", None, None, "flag", "numeric"),
    _Option("p", "port", "port", "port", "port"),
    _Option("t", "tos", "tos", "uint", "tos"),
    _Option("l", "flowlabel", "flow_label", "unsupported"),
    _Option("w", "wait", "MAX,HERE,NEAR", "wait"),
    _Option("q", "queries", "nqueries", "uint", "probes_per_hop"),
    _Option("r", None, None, "flag", "dontroute"),
    _Option("s", "source", "src_addr", "source"),
    _Option("z", "sendwait", "sendwait", "double", "send_wait"),
    _Option("e", "extensions", None, "unsupported", abbrev=True),
    _Option("A", "as-path-lookups", None, "unsupported"),
    _Option("M", "module", "name", "module"),
    _Option("O", "options", "OPTS", "unsupported"),
    _Option(None, "sport", "num", "port", "src_port"),
    _Option(None, "fwmark", "num", "uint", "fwmark"),
    _Option("U", "udp", None, "unsupported"),
    _Option(None, "UL", None, "unsupported", one_dash=True),
    _Option("D", "dccp", None, "unsupported"),
    _Option("P", "protocol", "prot", "unsupported"),
    _Option(None, "mtu", None, "unsupported"),
    _Option(None, "back", None, "flag", "back"),
    _Option("V", "version", None, "version"),
    _Option(None, "help", None, "help"),
)
METHODS = ("default", "icmp", "tcp")
MIN_ABBREV = 2


def _show(option: _Option, short: bool, with_arg: bool) -> str:
    """clif's show_short() / show_long(): `-m max_ttl`, `--max-hops=max_ttl`, `-UL`."""
    if short:
        text = f"-{option.short}"
        return f"{text} {option.arg}" if with_arg and option.arg else text
    text = f"{'-' if option.one_dash else '--'}{option.long}"
    return f"{text}={option.arg}" if with_arg and option.arg else text


def _find_long(name: str, one_dash: bool) -> tuple[_Option | None, str | None]:
    """clif's find_long(): an exact long option, or a unique abbreviation of an abbreviable
    one; with its `=value` when given."""
    abbreviation, abbreviation_value, found = None, None, 0
    for option in OPTIONS:
        if not option.long or option.one_dash != one_dash:
            continue
        common = 0
        while common < min(len(name), len(option.long)) and name[common] == option.long[common]:
            common += 1
        rest = name[common:]
        if rest == "" or (rest.startswith("=") and option.arg):
            if common == len(option.long):
                return option, (rest[1:] if rest.startswith("=") else None)
            if option.abbrev and common >= MIN_ABBREV:
                found += 1
                abbreviation = option
                abbreviation_value = rest[1:] if rest.startswith("=") else None
    if found == 1:
        return abbreviation, abbreviation_value
    return None, None


def _bad_option(arg: str, letter: str | None, index: int) -> ToolExit:
    if letter:
        return ToolExit(f"Bad option `-{letter}' (argc {index})")
    if "=" in arg:
        return ToolExit(f"Bad option `{arg}' (with arg `{arg.split('=', 1)[1]}') "
                               f"(argc {index})")
    return ToolExit(f"Bad option `{arg}' (argc {index})")


def _getaddr(name: str, family: int) -> tuple[int, str] | str:
    """traceroute's getaddr(): (family, numeric address), or the `name: error` line."""
    try:
        answers = socket.getaddrinfo(name, None, family)
    except socket.gaierror as exc:
        return f"{name}: {exc.strerror}"
    except UnicodeError:
        return f"{name}: Name or service not known"
    chosen = answers[0]
    for answer in answers:
        if answer[0] == family or (not family and answer[0] == socket.AF_INET):
            chosen = answer
            break
    # An IP sockaddr: the stub's (int, bytes) is only for a Python built without IPv6.
    sockaddr = cast("tuple[str, int] | tuple[str, int, int, int]", chosen[4])
    numeric, _ = socket.getnameinfo(sockaddr, socket.NI_NUMERICHOST | socket.NI_NUMERICSERV)
    return chosen[0], numeric


class _Parser:
    """CLIF_parse_cmdline() for traceroute's option table (flags CLIF_MAY_JOIN_ARG |
    CLIF_HELP_EMPTY): options anywhere unless POSIXLY_CORRECT, `--` ends them, short flags
    group (`-nI`), a value joins only the first letter of a group (`-q1`), long values need
    `=`. Handlers run as they are met (-s resolves there); the operands are handled last."""

    def __init__(self, argv: list[str], family: int, resolve: bool):
        self.argv = ["traceroute", *argv]
        self.resolve = resolve
        self.values: dict = {}
        self.af = socket.AF_INET6 if family == 6 else 0

    def run(self) -> TracerouteOptions:
        argv = self.argv
        if len(argv) <= 1:
            return TracerouteOptions(action="help")
        posix = "POSIXLY_CORRECT" in os.environ
        options_allowed = True
        operands: list[int] = []
        index = 1
        while index < len(argv):
            arg = argv[index]
            if not options_allowed or not arg.startswith("-") or arg == "-":
                operands.append(index)
                if posix:
                    options_allowed = False
                index += 1
                continue
            if arg.startswith("--"):
                if arg.startswith("---"):
                    operands.append(index)
                    index += 1
                    continue
                option, value = _find_long(arg[2:], one_dash=False)
                if option is None:
                    if arg == "--":
                        options_allowed = False
                        index += 1
                        continue
                    raise _bad_option(arg, None, index)
                index = self._long(option, value, index)
                if self.values.get("action") in ("help", "version"):
                    return TracerouteOptions(action=self.values["action"])
                continue
            option, value = _find_long(arg[1:], one_dash=True)
            if option is not None:
                index = self._long(option, value, index)
                continue
            index = self._short_group(arg, index)
            if self.values.get("action") in ("help", "version"):
                return TracerouteOptions(action=self.values["action"])
        return self._operands(operands)

    def _long(self, option: _Option, value: str | None, index: int) -> int:
        if option.arg and value is None:
            # clif without CLIF_MAY_NOEQUAL: a long option's value must follow `=`.
            raise ToolExit(f"Option `{_show(option, False, False)}' (argc {index}) "
                                  f"requires an argument: `{_show(option, False, True)}'")
        self._apply(option, value, short=False, index=index)
        return index + 1

    def _short_group(self, arg: str, index: int) -> int:
        position = 1
        while position < len(arg):
            letter = arg[position]
            option = next((o for o in OPTIONS if o.short == letter), None)
            if option is None:
                raise _bad_option(arg, letter, index)
            value = None
            if option.action == "unsupported":
                self._apply(option, None, short=True, index=index)
            if option.arg:
                if position + 1 == len(arg):
                    if index + 1 >= len(self.argv):
                        raise ToolExit(
                            f"Option `{_show(option, True, False)}' (argc {index}) requires an "
                            f"argument: `{_show(option, True, True)}'")
                    index += 1
                    value = self.argv[index]
                elif position == 1:
                    value = arg[2:]
                else:
                    raise ToolExit(
                        f"Option `{_show(option, True, False)}' (argc {index}) requires an "
                        f"argument: `{_show(option, True, True)}'")
            self._apply(option, value, short=True, index=index)
            if value is not None or self.values.get("action") in ("help", "version"):
                break
            position += 1
        return index + 1

    def _apply(self, option: _Option, value: str | None, short: bool, index: int) -> None:
        """The option's handler; a refusal is clif's `Cannot handle ...`."""
        action = option.action
        if action == "unsupported":
            raise ToolExit(f"Option `{_show(option, short, False)}' (argc {index}) is not "
                                  "supported by this traceroute (vrmonitor)")
        ok = True
        if action == "af":
            self.af = socket.AF_INET if option.value == 4 else socket.AF_INET6
        elif action == "flag":
            self.values[option.value] = True
        elif action == "method":
            self.values["method"] = option.value
        elif action in ("help", "version"):
            self.values["action"] = action
        else:
            # The other actions' options take a value: _long and _short_group require it.
            assert value is not None
            ok = self._apply_value(option, value, short, index)
        if not ok:
            shown = _show(option, short, False)
            raise ToolExit(f"Cannot handle `{shown}' option with arg `{value}' "
                                  f"(argc {index})")

    def _apply_value(self, option: _Option, value: str, short: bool, index: int) -> bool:
        """The handler of an option that takes a value; False when clif cannot handle it."""
        action = option.action
        ok = True
        if action == "string":
            self.values[option.value] = value
        elif action == "uint":
            number = _uint(value)
            ok = number is not None
            if ok:
                self.values[option.value] = number
        elif action == "double":
            real = _double(value)
            ok = real is not None
            if ok:
                self.values[option.value] = real
        elif action == "port":
            number, used = c_strtoul(value)
            if used:
                self.values[option.value] = number & UINT_MASK
            else:
                try:
                    self.values[option.value] = socket.getservbyname(value)
                except OSError:
                    ok = False
        elif action == "wait":
            ok = self._wait(value)
        elif action == "source":
            answer = _getaddr(value, self.af) if self.resolve else (0, value)
            if isinstance(answer, str):  # getaddr() printed its line before clif's
                raise ToolExit(f"{answer}\nCannot handle `{_show(option, short, False)}' "
                                      f"option with arg `{value}' (argc {index})")
            self.values["source_family"], self.values["source"] = answer
        elif action == "module":
            self.values["method"] = value
        return ok

    def _wait(self, text: str) -> bool:
        """set_wait_specs(): MAX[,HERE[,NEAR]]; a missing HERE or NEAR is 0."""
        self.values["here"] = self.values["near"] = 0.0
        values = []
        rest = text
        for position in range(3):
            number, used = c_strtod(rest)
            if not used:
                return False
            values.append(number)
            rest = rest[used:]
            if position < 2:
                if not rest:
                    break
                rest = rest[1:]  # any separator, as `*q++` skips it
            elif rest:
                return False
        for name, number in zip(("wait", "here", "near"), values):
            self.values[name] = number
        return True

    def _operands(self, operands: list[int]) -> TracerouteOptions:
        argv = self.argv
        if not operands:
            raise ToolExit('Specify "host" missing argument.')
        if len(operands) > 2:
            raise ToolExit(f"Extra arg `{argv[operands[2]]}' (position 3, "
                                  f"argc {operands[2]})")
        host = argv[operands[0]]
        values = self.values
        address, family = "", self.af
        if self.resolve:
            answer = _getaddr(host, self.af)
            if isinstance(answer, str):
                raise ToolExit(f"{answer}\nCannot handle \"host\" cmdline arg `{host}' "
                                      f"on position 1 (argc {operands[0]})")
            resolved_family, address = answer
            family = family or resolved_family
        if len(operands) == 2:
            length = _int(argv[operands[1]])
            if length is None:
                raise ToolExit(f"Cannot handle \"packetlen\" cmdline arg "
                                      f"`{argv[operands[1]]}' on position 2 (argc {operands[1]})")
            values["packet_len"] = length
        options = TracerouteOptions(host=host, address=address, family=family, **values)
        return _checked(options)


class _Changes(TypedDict, total=False):
    """What _checked() changes in the options."""

    send_wait: float
    sim_probes: int
    here: float
    near: float


def _checked(options: TracerouteOptions) -> TracerouteOptions:
    """traceroute's main() checks after parsing, in its order."""
    if options.method not in METHODS:
        if options.method in ("udp", "udplite", "dccp", "raw", "tcpconn"):
            raise ToolExit(f"traceroute module {options.method} is not supported by "
                                  "this traceroute (vrmonitor)")
        raise ToolExit(f"Unknown traceroute module {options.method}")
    if not options.first_hop or options.first_hop > options.max_hops:
        raise ToolExit("first hop out of range")
    if options.max_hops > MAX_HOPS:
        raise ToolExit(f"max hops cannot be more than {MAX_HOPS}")
    if not options.probes_per_hop or options.probes_per_hop > MAX_PROBES:
        raise ToolExit(f"no more than {MAX_PROBES} probes per hop")
    if options.wait < 0 or options.here < 0 or options.near < 0:
        raise ToolExit(f"bad wait specifications `{options.wait:g},{options.here:g},"
                              f"{options.near:g}' used")
    if options.packet_len > MAX_PACKET_LEN:
        raise ToolExit(f"too big packetlen {options.packet_len} specified")
    if options.source_family and options.family and options.source_family != options.family:
        raise ToolExit("IP version mismatch in addresses specified")
    if options.send_wait < 0:
        raise ToolExit(f"bad sendtime `{options.send_wait:g}' specified")
    changes: _Changes = {}
    if options.send_wait >= 10:
        changes["send_wait"] = options.send_wait / 1000
    if options.src_port:
        changes.update({"sim_probes": 1, "here": 0.0, "near": 0.0})
    return replace(options, **changes) if changes else options


def parse(argv: list[str], family: int = 4, resolve: bool = True) -> TracerouteOptions:
    """traceroute's command line (traceroute6's with family=6). The host (and -s) are resolved
    here, as traceroute does while parsing, unless resolve=False (a syntax check only).
    ToolExit (a DiagnosticError) carries the tool's message and exit status. family=4
    is plain `traceroute`: IPv4 preferred, an IPv6 host allowed, -4/-6 decide."""
    return _Parser(list(argv), family, resolve).run()
