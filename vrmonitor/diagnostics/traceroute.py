"""traceroute and traceroute6, as Debian 12's `traceroute` (Butskoy 2.1.2) does them, with scapy.

Probes leave through kernel sockets: UDP datagrams to port 33434 and up (one port per probe)
from one bound UDP socket by default, ICMP echo requests (-I) or TCP SYNs (-T) built with
scapy's layers and sent through raw sockets, each with its TTL / hop limit set on the socket.
The kernel routes them and resolves the next hop itself, so an absent on-link neighbour costs
the wait we choose (scapy's own sr() would spend about 3 s on ARP first). The answers are read
from raw ICMP / ICMPv6 (and for -T, TCP) sockets and dissected with scapy: an ICMP error
belongs to a probe when the datagram it quotes is ours (destination, ports or echo id/seq).

The probe scheduling, the waits and the printing are traceroute's own (do_it, get_timeout,
check_expired, print_probe), so the output and the stop rules match it line for line:

- Header (without its newline until the first hop) `traceroute to HOST (IP), M hops max,
  L byte packets`; each hop `\\n%2u ` then, per probe, ` ADDR` (`name (ip)` without -n) only
  when it differs from the previous answered probe of the hop, `  %.3f ms` and a flag (`!H`,
  `!N`, `!P`, `!X`, `!S`, `!V`, `!C`, `!F-<mtu>`, `!<code>`, `!<type-code>`), or ` *`; a
  final newline.
- Up to -N (16) probes in flight across hops; a probe expires after -w MAX seconds, or HERE
  times the round trip of an answered probe of the same hop, or NEAR times that of a later
  one (with `-w N` alone HERE and NEAR are 0, as in traceroute); a final answer (destination
  reached: port unreachable, echo reply, TCP reply; or an unreachable) ends the trace after
  its hop; check_expired()'s "final belongs earlier" heuristic included.
- Exit status 0 when the trace ran (reached or not); 2 for what the command line or the host
  argument cannot give (clif's messages: `Bad option `-Z' (argc 1)`, `Cannot handle `-m'
  option with arg `x' (argc 2)`, `NAME: Name or service not known` then `Cannot handle "host"
  cmdline arg `NAME' on position 1 (argc N)`, `first hop out of range`, ...); 1 for a system
  call that fails (`\\nbind: Cannot assign requested address`, `\\nsetsockopt
  SO_BINDTODEVICE: No such device`), after the header for UDP and TCP, before it for -I, as
  traceroute does. No arguments or --help print the usage on stderr, exit 0.

Options: -4 -6 -d -F -f -I -T -i -m -N -n -p -q -r -s -t -w -z, --back, --sport, --fwmark,
-M default|icmp|tcp, -V, --help and the packetlen operand. The other methods and options of
traceroute (-U, -UL, -D, -P, --mtu, -g, -l, -e, -A, -O) are refused with exit 2.

Needs CAP_NET_RAW. scapy's layer modules are imported on first use only.
"""

import errno
import logging
import math
import os
import re
import select
import socket
import struct
import sys
import time
from dataclasses import dataclass, replace

from vrmonitor.errors import DiagnosticError

MAX_HOPS = 255
MAX_PROBES = 10
DEF_HOPS = 30
DEF_SIM_PROBES = 16
DEF_NUM_PROBES = 3
DEF_WAIT_SECS = 5.0
DEF_HERE_FACTOR = 3.0
DEF_NEAR_FACTOR = 10.0
DEF_WAIT_PREC = 0.001
DEF_DATA_LEN = 40
MAX_PACKET_LEN = 65000
DEF_START_PORT = 33434
DEF_TCP_PORT = 80
RECEIVE_SIZE = 65535
UINT_MASK = 0xFFFFFFFF

IP_HEADER = {socket.AF_INET: 20, socket.AF_INET6: 40}
# Linux values the socket module does not always name.
IP_MTU_DISCOVER, IP_PMTUDISC_DONT, IP_PMTUDISC_PROBE, IP_MTU, IP_RECVERR = 10, 0, 3, 14, 11
IPV6_MTU_DISCOVER, IPV6_PMTUDISC_DONT, IPV6_PMTUDISC_PROBE, IPV6_MTU = 23, 0, 3, 24
IPV6_RECVERR = 25
IPV6_CHECKSUM = 7
SO_MARK = 36
SOL_RAW, ICMP_FILTER = 255, 1
ICMPV6_FILTER = 1
SO_TIMESTAMPNS = 35

ICMP_ECHOREPLY, ICMP_DEST_UNREACH, ICMP_SOURCE_QUENCH = 0, 3, 4
ICMP_REDIRECT, ICMP_ECHO, ICMP_TIME_EXCEEDED, ICMP_PARAMETERPROB = 5, 8, 11, 12
ICMP6_DST_UNREACH, ICMP6_PACKET_TOO_BIG, ICMP6_TIME_EXCEEDED = 1, 2, 3
ICMP6_PARAM_PROB, ICMP6_ECHO_REQUEST, ICMP6_ECHO_REPLY = 4, 128, 129

UNREACH_FLAGS_4 = {0: "!N", 6: "!N", 8: "!N", 11: "!N", 1: "!H", 7: "!H", 12: "!H",
                   9: "!X", 10: "!X", 13: "!X", 3: "", 2: "!P", 5: "!S", 14: "!V", 15: "!C"}
UNREACH_FLAGS_6 = {0: "!N", 2: "!H", 3: "!H", 1: "!X", 4: ""}

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

LOG = logging.getLogger(__name__)


class TracerouteError(DiagnosticError):
    """traceroute refused or stopped: `str()` is its whole message (stderr), `status` the exit
    code (2 for the command line, 1 for a failed system call, 0 for --help / -V)."""

    def __init__(self, text: str, status: int = 2):
        super().__init__(text)
        self.text = text
        self.status = status


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


# -- C conversions, as clif's handlers use them --------------------------------------------

_SPACE = " \t\n\r\f\v"
_FLOAT = re.compile(r"[ \t\n\r\f\v]*[+-]?(?:"
                    r"0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP][+-]?[0-9]+)?"
                    r"|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
                    r"|[iI][nN][fF](?:[iI][nN][iI][tT][yY])?"
                    r"|[nN][aA][nN](?:\([0-9A-Za-z_]*\))?)")


def c_strtoul(text: str, signed: bool = False) -> tuple[int, int]:
    """strtoul(text, &end, 0) (or strtol with signed=True): (value, characters consumed);
    consumed is 0 when no number starts the text. The value is what C would return (negative
    numbers wrap for strtoul; overflow saturates)."""
    position = 0
    while position < len(text) and text[position] in _SPACE:
        position += 1
    negative = False
    if position < len(text) and text[position] in "+-":
        negative = text[position] == "-"
        position += 1
    base, digits = 10, "0123456789"
    if text[position:position + 2] in ("0x", "0X") and position + 2 < len(text) \
            and text[position + 2] in "0123456789abcdefABCDEF":
        base, digits = 16, "0123456789abcdefABCDEF"
        position += 2
    elif text[position:position + 1] == "0":
        base, digits = 8, "01234567"
    start = position
    while position < len(text) and text[position] in digits:
        position += 1
    if position == start:
        return 0, 0
    value = int(text[start:position], base)
    if signed:
        value = -value if negative else value
        value = max(-(2**63), min(2**63 - 1, value))
    else:
        value = 2**64 - 1 if value >= 2**64 else value
        value = (-value) % 2**64 if negative else value
    return value, position


def c_strtod(text: str) -> tuple[float, int]:
    """strtod(text, &end): (value, characters consumed); consumed 0 when there is no number."""
    match = _FLOAT.match(text)
    if not match:
        return 0.0, 0
    number = match.group(0).strip(_SPACE)
    body = number.lstrip("+-")
    sign = -1.0 if number.startswith("-") else 1.0
    if body[:2] in ("0x", "0X"):
        mantissa = body if "p" in body.lower() else body + "p0"
        value = float.fromhex(mantissa)
    elif body[:1] in "nN":
        value = math.nan
    else:
        value = float(body)
    return sign * value, match.end()


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


def _bad_option(arg: str, letter: str | None, index: int) -> TracerouteError:
    if letter:
        return TracerouteError(f"Bad option `-{letter}' (argc {index})")
    if "=" in arg:
        return TracerouteError(f"Bad option `{arg}' (with arg `{arg.split('=', 1)[1]}') "
                               f"(argc {index})")
    return TracerouteError(f"Bad option `{arg}' (argc {index})")


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
    numeric, _ = socket.getnameinfo(chosen[4], socket.NI_NUMERICHOST | socket.NI_NUMERICSERV)
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
            raise TracerouteError(f"Option `{_show(option, False, False)}' (argc {index}) "
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
                        raise TracerouteError(
                            f"Option `{_show(option, True, False)}' (argc {index}) requires an "
                            f"argument: `{_show(option, True, True)}'")
                    index += 1
                    value = self.argv[index]
                elif position == 1:
                    value = arg[2:]
                else:
                    raise TracerouteError(
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
            raise TracerouteError(f"Option `{_show(option, short, False)}' (argc {index}) is not "
                                  "supported by this traceroute (vrmonitor)")
        ok = True
        if action == "af":
            self.af = socket.AF_INET if option.value == 4 else socket.AF_INET6
        elif action == "flag":
            self.values[option.value] = True
        elif action == "method":
            self.values["method"] = option.value
        elif action == "string":
            self.values[option.value] = value
        elif action == "uint":
            number = _uint(value)
            ok = number is not None
            if ok:
                self.values[option.value] = number
        elif action == "double":
            number = _double(value)
            ok = number is not None
            if ok:
                self.values[option.value] = number
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
                raise TracerouteError(f"{answer}\nCannot handle `{_show(option, short, False)}' "
                                      f"option with arg `{value}' (argc {index})")
            self.values["source_family"], self.values["source"] = answer
        elif action == "module":
            self.values["method"] = value
        elif action in ("help", "version"):
            self.values["action"] = action
        if not ok:
            shown = _show(option, short, False)
            raise TracerouteError(f"Cannot handle `{shown}' option with arg `{value}' "
                                  f"(argc {index})")

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
            raise TracerouteError('Specify "host" missing argument.')
        if len(operands) > 2:
            raise TracerouteError(f"Extra arg `{argv[operands[2]]}' (position 3, "
                                  f"argc {operands[2]})")
        host = argv[operands[0]]
        values = self.values
        address, family = "", self.af
        if self.resolve:
            answer = _getaddr(host, self.af)
            if isinstance(answer, str):
                raise TracerouteError(f"{answer}\nCannot handle \"host\" cmdline arg `{host}' "
                                      f"on position 1 (argc {operands[0]})")
            resolved_family, address = answer
            family = family or resolved_family
        if len(operands) == 2:
            length = _int(argv[operands[1]])
            if length is None:
                raise TracerouteError(f"Cannot handle \"packetlen\" cmdline arg "
                                      f"`{argv[operands[1]]}' on position 2 (argc {operands[1]})")
            values["packet_len"] = length
        options = TracerouteOptions(host=host, address=address, family=family, **values)
        return _checked(options)


def _checked(options: TracerouteOptions) -> TracerouteOptions:
    """traceroute's main() checks after parsing, in its order."""
    if options.method not in METHODS:
        if options.method in ("udp", "udplite", "dccp", "raw", "tcpconn"):
            raise TracerouteError(f"traceroute module {options.method} is not supported by "
                                  "this traceroute (vrmonitor)")
        raise TracerouteError(f"Unknown traceroute module {options.method}")
    if not options.first_hop or options.first_hop > options.max_hops:
        raise TracerouteError("first hop out of range")
    if options.max_hops > MAX_HOPS:
        raise TracerouteError(f"max hops cannot be more than {MAX_HOPS}")
    if not options.probes_per_hop or options.probes_per_hop > MAX_PROBES:
        raise TracerouteError(f"no more than {MAX_PROBES} probes per hop")
    if options.wait < 0 or options.here < 0 or options.near < 0:
        raise TracerouteError(f"bad wait specifications `{options.wait:g},{options.here:g},"
                              f"{options.near:g}' used")
    if options.packet_len > MAX_PACKET_LEN:
        raise TracerouteError(f"too big packetlen {options.packet_len} specified")
    if options.source_family and options.family and options.source_family != options.family:
        raise TracerouteError("IP version mismatch in addresses specified")
    if options.send_wait < 0:
        raise TracerouteError(f"bad sendtime `{options.send_wait:g}' specified")
    changes = {}
    if options.send_wait >= 10:
        changes["send_wait"] = options.send_wait / 1000
    if options.src_port:
        changes.update(sim_probes=1, here=0.0, near=0.0)
    return replace(options, **changes) if changes else options


def parse(argv: list[str], family: int = 4, resolve: bool = True) -> TracerouteOptions:
    """traceroute's command line (traceroute6's with family=6). The host (and -s) are resolved
    here, as traceroute does while parsing, unless resolve=False (a syntax check only).
    TracerouteError (a DiagnosticError) carries the tool's message and exit status. family=4
    is plain `traceroute`: IPv4 preferred, an IPv6 host allowed, -4/-6 decide."""
    return _Parser(list(argv), family, resolve).run()


# -- probes and their printing -------------------------------------------------------------

@dataclass
class Probe:
    """One probe's state, as traceroute's `probe` struct."""

    done: bool = False
    final: bool = False
    send_time: float = 0.0  # monotonic seconds; 0: not sent
    recv_time: float = 0.0
    address: str | None = None  # who answered (numeric); None: nobody (` *`)
    recv_ttl: int = 0
    err_str: str = ""
    seq: int = 0  # what identifies its answers (port, echo seq, TCP seq); 0 once done


def ttl2hops(ttl: int) -> int:
    return (65 if ttl <= 64 else 129 if ttl <= 128 else 256) - ttl


def probe_text(probes: list[Probe], index: int, per_hop: int, name_of, back: bool = False) -> str:
    """print_probe(): the text traceroute prints for probe `index` (hop prefix included when it
    is the first of its hop). name_of(address) gives ` ip` or ` name (ip)`."""
    probe = probes[index]
    ttl = index // per_hop + 1
    position = index % per_hop
    parts = []
    if position == 0:
        parts.append(f"\n{ttl:2d} ")
    if probe.address is None:
        parts.append(" *")
    else:
        show = position == 0
        if position:
            previous = index - 1
            while position and probes[previous].address is None:
                previous -= 1
                position -= 1
            if (not position or probes[previous].address != probe.address
                    or (back and probes[previous].recv_ttl != probe.recv_ttl)):
                show = True
        if show:
            parts.append(name_of(probe.address))
            if back and probe.recv_ttl:
                hops = ttl2hops(probe.recv_ttl)
                if hops != ttl:
                    parts.append(f" '-{hops}'")
    if probe.recv_time:
        parts.append(f"  {(probe.recv_time - probe.send_time) * 1000:.3f} ms")
    if probe.err_str:
        parts.append(f" {probe.err_str}")
    return "".join(parts)


def header_text(options: TracerouteOptions, packet_len: int) -> str:
    """print_header(), without its newline."""
    return (f"traceroute to {options.host} ({options.address}), {options.max_hops} hops max, "
            f"{packet_len} byte packets")


def icmp_flag(family: int, kind: int, code: int, info: int) -> str | None:
    """parse_icmp_res(): None for time exceeded in transit (an intermediate hop), "" for the
    destination's port unreachable, else the flag printed after the time. Every answer but
    None is final."""
    if family == socket.AF_INET:
        if kind == ICMP_TIME_EXCEEDED and code == 0:
            return None
        if kind == ICMP_DEST_UNREACH:
            if code == 4:
                return f"!F-{info}"
            return UNREACH_FLAGS_4.get(code, f"!<{code}>")
    else:
        if kind == ICMP6_TIME_EXCEEDED and code == 0:
            return None
        if kind == ICMP6_DST_UNREACH:
            return UNREACH_FLAGS_6.get(code, f"!<{code}>")
        if kind == ICMP6_PACKET_TOO_BIG:
            return f"!F-{info}"
    return f"!<{kind}-{code}>"


def packet_length(options: TracerouteOptions) -> tuple[int, int]:
    """(header_len, data_len) as traceroute computes them for the method (the header shows
    their sum): UDP 8 + data, ICMP data includes its 8-byte header (at least 8), TCP a SYN
    with 20 bytes of options whatever packetlen says."""
    ip = IP_HEADER[options.family]
    if options.method == "tcp":
        return ip + 20, 20
    header = ip + (8 if options.method == "default" else 0)
    data = 0
    if options.packet_len < 0:
        data = DEF_DATA_LEN - (8 if options.method == "default" else 0)
    elif options.packet_len >= header:
        data = options.packet_len - header
    if options.method == "icmp" and data < 8:
        data = 8
    return header, data


# -- sockets -------------------------------------------------------------------------------

def _scapy():
    """scapy's IPv4/IPv6 layers, imported on first use (quietly: see icmp._layers)."""
    scapy_log = logging.getLogger("scapy")
    if scapy_log.level == logging.NOTSET:
        scapy_log.setLevel(logging.ERROR)
    from scapy.layers import inet, inet6

    return inet, inet6


class SystemCallError(Exception):
    """traceroute's error(): `\\n<call>: <strerror>` on stderr, exit 1."""

    def __init__(self, call: str, exc: OSError):
        super().__init__(call)
        self.call = call
        self.exc = exc

    @property
    def text(self) -> str:
        reason = os.strerror(self.exc.errno) if self.exc.errno else str(self.exc)
        return f"\n{self.call}: {reason}"


def _call(name: str, function, *args):
    try:
        return function(*args)
    except OSError as exc:
        raise SystemCallError(name, exc) from exc


class Sender:
    """The probes of one method: the sending socket(s), their tuning (tune_socket and
    bind_socket), and send(probe, ttl)."""

    def __init__(self, options: TracerouteOptions, data_len: int):
        self.options = options
        self.family = options.family
        self.data_len = data_len
        self.inet, self.inet6 = _scapy()
        self.socket: socket.socket | None = None
        self.source: str | None = options.source

    def close(self) -> None:
        if self.socket is not None:
            self.socket.close()

    def tune(self, sock: socket.socket, port: int = 0) -> None:
        """tune_socket(): debug, mark, device, bind, DF, TOS, don't-route, in that order."""
        options = self.options
        v4 = self.family == socket.AF_INET
        if options.debug:
            _call("setsockopt SO_DEBUG", sock.setsockopt, socket.SOL_SOCKET, socket.SO_DEBUG, 1)
        if options.fwmark:
            _call("setsockopt SO_MARK", sock.setsockopt, socket.SOL_SOCKET, SO_MARK,
                  options.fwmark)
        if options.device is not None:
            _call("setsockopt SO_BINDTODEVICE", sock.setsockopt, socket.SOL_SOCKET,
                  socket.SO_BINDTODEVICE, options.device.encode() + b"\0")
        address = options.source or ("0.0.0.0" if v4 else "::")
        _call("bind", sock.bind, (address, port) if v4 else (address, port, 0, 0))
        if v4:
            mode = IP_PMTUDISC_PROBE if options.dontfrag else IP_PMTUDISC_DONT
            _call("setsockopt IP_MTU_DISCOVER", sock.setsockopt, socket.IPPROTO_IP,
                  IP_MTU_DISCOVER, mode)
            if options.tos:
                _call("setsockopt IP_TOS", sock.setsockopt, socket.IPPROTO_IP, socket.IP_TOS,
                      options.tos)
        else:
            mode = IPV6_PMTUDISC_PROBE if options.dontfrag else IPV6_PMTUDISC_DONT
            _call("setsockopt IPV6_MTU_DISCOVER", sock.setsockopt, socket.IPPROTO_IPV6,
                  IPV6_MTU_DISCOVER, mode)
            if options.tos:
                _call("setsockopt IPV6_TCLASS", sock.setsockopt, socket.IPPROTO_IPV6,
                      socket.IPV6_TCLASS, options.tos)
        if options.dontroute:
            _call("setsockopt SO_DONTROUTE", sock.setsockopt, socket.SOL_SOCKET,
                  socket.SO_DONTROUTE, 1)

    def set_ttl(self, sock: socket.socket, ttl: int) -> None:
        if self.family == socket.AF_INET:
            _call("setsockopt IP_TTL", sock.setsockopt, socket.IPPROTO_IP, socket.IP_TTL, ttl)
        else:
            _call("setsockopt IPV6_UNICAST_HOPS", sock.setsockopt, socket.IPPROTO_IPV6,
                  socket.IPV6_UNICAST_HOPS, ttl)

    def destination(self, port: int = 0):
        if self.family == socket.AF_INET:
            return (self.options.address, port)
        return (self.options.address, port, 0, 0)

    def local_mtu(self, size: int) -> int:
        """The MTU in the kernel's own local error for a `size`-byte datagram that does not
        fit (what traceroute reads from its error queue as `!F-<mtu>`): the same datagram
        is offered once more on a throw-away socket with IP_RECVERR, and the report read."""
        v4 = self.family == socket.AF_INET
        level = socket.IPPROTO_IP if v4 else socket.IPPROTO_IPV6
        recverr = IP_RECVERR if v4 else IPV6_RECVERR
        with socket.socket(self.family, socket.SOCK_DGRAM) as probe:
            try:
                if self.options.device is not None:
                    probe.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE,
                                     self.options.device.encode() + b"\0")
                if v4:
                    probe.setsockopt(level, IP_MTU_DISCOVER, IP_PMTUDISC_PROBE)
                else:
                    probe.setsockopt(level, IPV6_MTU_DISCOVER, IPV6_PMTUDISC_PROBE)
                probe.setsockopt(level, recverr, 1)
                probe.connect(self.destination(DEF_START_PORT))
                try:
                    probe.send(bytes(max(0, size - IP_HEADER[self.family] - 8)))
                except OSError as exc:
                    if exc.errno != errno.EMSGSIZE:
                        raise
                _, ancillary, _, _ = probe.recvmsg(1, 512,
                                                   socket.MSG_ERRQUEUE | socket.MSG_DONTWAIT)
                for cmsg_level, cmsg_type, value in ancillary:
                    if cmsg_level == level and cmsg_type == recverr and len(value) >= 16:
                        # struct sock_extended_err: errno, origin, type, code, pad, info, data
                        return struct.unpack_from("=IBBBBII", value)[5]
                return probe.getsockopt(level, IP_MTU if v4 else IPV6_MTU)
            except OSError:
                return 0

    def transmit(self, sock: socket.socket, payload: bytes, probe: Probe, address=None) -> bool:
        """do_send(): True when the probe counts as sent (EMSGSIZE does: it is answered
        locally with `!F-<mtu>`); False for ENOBUFS/EAGAIN (try later); error() otherwise."""
        probe.send_time = time.monotonic()
        try:
            if address is None:
                sock.send(payload)
            else:
                sock.sendto(payload, address)
        except OSError as exc:
            if exc.errno in (errno.ENOBUFS, errno.EAGAIN):
                probe.send_time = 0.0
                return False
            if exc.errno == errno.EMSGSIZE:
                # The kernel's local error report: no address, the route's MTU.
                probe.recv_time = time.monotonic()
                probe.err_str = f"!F-{self.local_mtu(IP_HEADER[self.family] + len(payload))}"
                probe.final = probe.done = True
                return True
            raise SystemCallError("send", exc) from exc
        return True


class UdpSender(Sender):
    """The default method: UDP to port 33434 (or -p) + one per probe, from one bound socket."""

    def __init__(self, options, data_len):
        super().__init__(options, data_len)
        self.port = options.port or DEF_START_PORT
        self.payload = bytes(0x40 + (i & 0x3F) for i in range(data_len))

    def start(self) -> None:
        """After the header, as traceroute meets these errors at its first probe."""
        sock = _call("socket", socket.socket, self.family, socket.SOCK_DGRAM)
        self.socket = sock
        self.tune(sock, self.options.src_port & 0xFFFF)
        # traceroute connects each probe's socket: the same route errors ("connect: Network
        # is unreachable"), from a throw-away socket, since ours stays unconnected.
        with socket.socket(self.family, socket.SOCK_DGRAM) as check:
            if self.options.device is not None:
                _call("setsockopt SO_BINDTODEVICE", check.setsockopt, socket.SOL_SOCKET,
                      socket.SO_BINDTODEVICE, self.options.device.encode() + b"\0")
            if self.options.source:
                _call("bind", check.bind, self.destination_of(self.options.source))
            _call("connect", check.connect, self.destination(self.port & 0xFFFF))
        self.local_port = sock.getsockname()[1]

    def destination_of(self, address: str):
        return (address, 0) if self.family == socket.AF_INET else (address, 0, 0, 0)

    def send(self, probe: Probe, ttl: int) -> None:
        self.set_ttl(self.socket, ttl)
        port = self.port & 0xFFFF
        if not self.transmit(self.socket, self.payload, probe, self.destination(port)):
            return
        probe.seq = port or 0x10000
        self.port += 1

    def matches(self, quoted_proto: int, layer) -> int | None:
        """The seq of the probe a quoted UDP header belongs to."""
        if quoted_proto != socket.IPPROTO_UDP or layer is None:
            return None
        if getattr(layer, "sport", None) != self.local_port:
            return None
        return getattr(layer, "dport", 0) or 0x10000


class IcmpSender(Sender):
    """-I: ICMP (v6) echo requests through a raw socket; id = pid, seq from 1 (or -p + 1)."""

    def __init__(self, options, data_len):
        super().__init__(options, data_len)
        self.ident = os.getpid() & 0xFFFF
        self.seq = options.port
        self.payload = bytes(0x40 + (i & 0x3F) for i in range(8, data_len))

    def start(self) -> None:
        """At init, before the header (traceroute's icmp_init): socket, tuning, connect."""
        v4 = self.family == socket.AF_INET
        protocol = socket.IPPROTO_ICMP if v4 else socket.IPPROTO_ICMPV6
        sock = _call("socket", socket.socket, self.family, socket.SOCK_RAW, protocol)
        self.socket = sock
        self.tune(sock)
        _call("connect", sock.connect, self.destination())
        # This socket only sends: the answers are read on the receiver's socket.
        if v4:
            sock.setsockopt(SOL_RAW, ICMP_FILTER, struct.pack("=I", UINT_MASK))
        else:
            sock.setsockopt(socket.IPPROTO_ICMPV6, ICMPV6_FILTER, b"\xff" * 32)

    def send(self, probe: Probe, ttl: int) -> None:
        self.set_ttl(self.socket, ttl)
        self.seq = (self.seq + 1) & 0xFFFF
        if self.family == socket.AF_INET:
            packet = self.inet.ICMP(type=ICMP_ECHO, id=self.ident, seq=self.seq) / self.payload
        else:
            # The kernel computes the ICMPv6 checksum of raw ICMPv6 sockets.
            packet = self.inet6.ICMPv6EchoRequest(id=self.ident, seq=self.seq, cksum=0,
                                                  data=self.payload)
        if self.transmit(self.socket, bytes(packet), probe):
            probe.seq = self.seq or 0x10000

    def matches(self, quoted_proto: int, layer) -> int | None:
        if quoted_proto not in (socket.IPPROTO_ICMP, socket.IPPROTO_ICMPV6) or layer is None:
            return None
        if getattr(layer, "type", None) not in (ICMP_ECHO, ICMP6_ECHO_REQUEST):
            return None
        if getattr(layer, "id", None) != self.ident:
            return None
        return getattr(layer, "seq", 0) or 0x10000


class TcpSender(Sender):
    """-T: TCP SYNs (MSS, SACK, timestamps, window scale: 40 bytes) to port 80 (or -p) through
    a raw socket; a reserved local port, one sequence number per probe."""

    def __init__(self, options, data_len):
        super().__init__(options, data_len)
        self.port = (options.port or DEF_TCP_PORT) & 0xFFFF
        self.base = int.from_bytes(os.urandom(4), "big") & 0x7FFFFFFF
        self.count = 0
        self.reserved: socket.socket | None = None

    def start(self) -> None:
        """After the header, as traceroute's first TCP probe: reserve a source port with a
        bound TCP socket (so the kernel answers nothing else on it), then the raw socket."""
        reserved = _call("socket", socket.socket, self.family, socket.SOCK_STREAM)
        self.reserved = reserved
        self.tune(reserved, self.options.src_port & 0xFFFF)
        self.local_port = reserved.getsockname()[1]
        sock = _call("socket", socket.socket, self.family, socket.SOCK_RAW, socket.IPPROTO_TCP)
        self.socket = sock
        self.tune(sock)
        _call("connect", sock.connect, self.destination())
        if self.source is None:
            self.source = sock.getsockname()[0]
        if self.family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, IPV6_CHECKSUM, 16)

    def close(self) -> None:
        super().close()
        if self.reserved is not None:
            self.reserved.close()

    def send(self, probe: Probe, ttl: int) -> None:
        self.set_ttl(self.socket, ttl)
        self.count += 1
        seq = (self.base + self.count) & UINT_MASK
        tcp = self.inet.TCP(sport=self.local_port, dport=self.port, seq=seq, flags="S",
                            window=64240,
                            options=[("MSS", 1460), ("SAckOK", b""),
                                     ("Timestamp", (int(time.monotonic() * 1000) & UINT_MASK, 0)),
                                     ("NOP", None), ("WScale", 7)])
        if self.family == socket.AF_INET:
            segment = bytes(self.inet.IP(src=self.source, dst=self.options.address) / tcp)[20:]
        else:
            tcp.chksum = 0  # IPV6_CHECKSUM: the kernel fills it in
            segment = bytes(tcp)
        if self.transmit(self.socket, segment, probe):
            probe.seq = seq or 0x100000000

    def matches(self, quoted_proto: int, layer) -> int | None:
        if quoted_proto != socket.IPPROTO_TCP or layer is None:
            return None
        if (getattr(layer, "sport", None), getattr(layer, "dport", None)) != \
                (self.local_port, self.port):
            return None
        return getattr(layer, "seq", 0) or 0x100000000

    def reply_seq(self, segment) -> int | None:
        """The probe seq a TCP answer from the destination acknowledges (SYN-ACK or RST)."""
        if segment.sport != self.port or segment.dport != self.local_port:
            return None
        return ((segment.ack - 1) & UINT_MASK) or 0x100000000


@dataclass
class Answer:
    """One answer read from the network, already tied to a probe's seq."""

    seq: int
    address: str | None
    recv_time: float
    recv_ttl: int = 0
    kind: int = -1  # ICMP type of an error; -1 for the destination's own reply
    code: int = 0
    info: int = 0


class Receiver:
    """Raw sockets that see the answers: ICMP (v6) errors and echo replies, and for -T the
    destination's TCP segments. Each packet is dissected with scapy and matched to a probe
    by what it quotes (sender.matches) or acknowledges."""

    def __init__(self, sender: Sender):
        self.sender = sender
        self.family = sender.family
        self.inet, self.inet6 = sender.inet, sender.inet6
        self.sockets: list[socket.socket] = []
        try:
            self._open(isinstance(sender, TcpSender))
        except OSError:
            self.close()
            raise

    def _open(self, tcp_answers: bool) -> None:
        v4 = self.family == socket.AF_INET
        icmp = socket.socket(self.family, socket.SOCK_RAW,
                             socket.IPPROTO_ICMP if v4 else socket.IPPROTO_ICMPV6)
        self.sockets.append(icmp)
        self.icmp = icmp
        if v4:
            wanted = (ICMP_ECHOREPLY, ICMP_DEST_UNREACH, ICMP_TIME_EXCEEDED, ICMP_PARAMETERPROB)
            mask = UINT_MASK
            for kind in wanted:
                mask &= ~(1 << kind)
            icmp.setsockopt(SOL_RAW, ICMP_FILTER, struct.pack("=I", mask))
        else:
            wanted = (ICMP6_DST_UNREACH, ICMP6_PACKET_TOO_BIG, ICMP6_TIME_EXCEEDED,
                      ICMP6_PARAM_PROB, ICMP6_ECHO_REPLY)
            words = [UINT_MASK] * 8
            for kind in wanted:
                words[kind >> 5] &= ~(1 << (kind & 31))
            icmp.setsockopt(socket.IPPROTO_ICMPV6, ICMPV6_FILTER, struct.pack("=8I", *words))
            icmp.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVHOPLIMIT, 1)
        if tcp_answers:
            tcp = socket.socket(self.family, socket.SOCK_RAW, socket.IPPROTO_TCP)
            self.sockets.append(tcp)
            if not v4:
                tcp.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVHOPLIMIT, 1)
        # Not bound to -i's device: a local error (an absent neighbour) arrives through lo.
        for sock in self.sockets:
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            sock.setblocking(False)

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()

    def wait(self, timeout: float) -> list[Answer]:
        """do_poll(): wait up to `timeout` for answers; all that are queued then."""
        try:
            readable, _, _ = select.select(self.sockets, [], [], max(0.0, timeout))
        except InterruptedError:
            return []
        answers = []
        for sock in readable:
            while True:
                try:
                    data, ancillary, _, source = sock.recvmsg(RECEIVE_SIZE, 256)
                except (BlockingIOError, InterruptedError):
                    break
                answer = self._answer(sock, data, ancillary, source)
                if answer is not None:
                    answers.append(answer)
        return answers

    def _answer(self, sock, data: bytes, ancillary, source) -> Answer | None:
        received = time.monotonic()
        hop_limit = 0
        for level, kind, value in ancillary:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(value) >= 16:
                seconds, nanoseconds = struct.unpack_from("=qq", value)
                # The kernel's arrival time, moved onto the monotonic clock.
                received = seconds + nanoseconds / 1e9 - (time.time() - time.monotonic())
            elif level == socket.IPPROTO_IPV6 and kind == socket.IPV6_HOPLIMIT and len(value) >= 4:
                hop_limit = struct.unpack_from("=i", value)[0]
        try:
            if self.family == socket.AF_INET:
                return self._answer4(sock, data, received)
            return self._answer6(sock, data, source, received, hop_limit)
        except (IndexError, struct.error, ValueError, TypeError, AttributeError) as exc:
            LOG.debug("traceroute: a packet scapy could not take apart: %s", exc)
            return None

    def _answer4(self, sock, data: bytes, received: float) -> Answer | None:
        inet = self.inet
        packet = inet.IP(data)
        destination = self.sender.options.address
        if sock is not self.icmp:
            if not packet.haslayer(inet.TCP) or packet.src != destination:
                return None
            seq = self.sender.reply_seq(packet[inet.TCP])
            return None if seq is None else Answer(seq, packet.src, received, packet.ttl)
        if not packet.haslayer(inet.ICMP):
            return None
        icmp = packet[inet.ICMP]
        if icmp.type == ICMP_ECHOREPLY:
            if not isinstance(self.sender, IcmpSender) or packet.src != destination:
                return None
            if icmp.id != self.sender.ident:
                return None
            return Answer(icmp.seq or 0x10000, packet.src, received, packet.ttl)
        if icmp.type in (ICMP_SOURCE_QUENCH, ICMP_REDIRECT):
            return None
        quoted = icmp.payload
        if not isinstance(quoted, inet.IPerror) or quoted.dst != destination:
            return None
        seq = self.sender.matches(quoted.proto, quoted.payload or None)
        if seq is None:
            return None
        info = 0
        if icmp.type == ICMP_DEST_UNREACH and icmp.code == 4:  # the next hop's MTU
            info = struct.unpack_from("!H", bytes(icmp), 6)[0]
        return Answer(seq, packet.src, received, packet.ttl, icmp.type, icmp.code, info)

    def _answer6(self, sock, data: bytes, source, received: float, hop_limit: int) -> Answer | None:
        inet6 = self.inet6
        origin = socket.getnameinfo(source[:4] if len(source) >= 4 else source,
                                    socket.NI_NUMERICHOST | socket.NI_NUMERICSERV)[0]
        destination = self.sender.options.address
        if sock is not self.icmp:
            segment = self.inet.TCP(data)
            if _same6(origin, destination):
                seq = self.sender.reply_seq(segment)
                return None if seq is None else Answer(seq, origin, received, hop_limit)
            return None
        kind = data[0]
        cls = inet6.icmp6typescls.get(kind, inet6.ICMPv6Unknown)
        message = cls(data)
        if kind == ICMP6_ECHO_REPLY:
            if not isinstance(self.sender, IcmpSender) or not _same6(origin, destination):
                return None
            if message.id != self.sender.ident:
                return None
            return Answer(message.seq or 0x10000, origin, received, hop_limit)
        quoted = message.payload
        if not isinstance(quoted, inet6.IPerror6) or not _same6(quoted.dst, destination):
            return None
        seq = self.sender.matches(quoted.nh, quoted.payload or None)
        if seq is None:
            return None
        info = struct.unpack_from("!I", data, 4)[0] if kind == ICMP6_PACKET_TOO_BIG else 0
        return Answer(seq, origin, received, hop_limit, kind, data[1], info)


def _same6(one: str, other: str) -> bool:
    try:
        return socket.inet_pton(socket.AF_INET6, one.split("%")[0]) == \
            socket.inet_pton(socket.AF_INET6, other.split("%")[0])
    except OSError:
        return False


# -- the run -------------------------------------------------------------------------------

class Traceroute:
    """do_it(): send up to sim_probes at a time, expire, print in order, stop after a final hop."""

    def __init__(self, options: TracerouteOptions, stdout, stderr):
        self.options = options
        self.stdout = stdout
        self.stderr = stderr
        self.per_hop = options.probes_per_hop
        self.probes = [Probe() for _ in range(options.max_hops * options.probes_per_hop)]
        self.names: dict[str, str] = {}

    def out(self, text: str) -> None:
        self.stdout.write(text)
        self.stdout.flush()

    def name_of(self, address: str) -> str:
        if self.options.numeric:
            return f" {address}"
        if address not in self.names:
            if self.options.family == socket.AF_INET:
                sockaddr = (address, 0)
            else:
                sockaddr = (address.split("%")[0], 0, 0, 0)
            try:
                name = socket.getnameinfo(sockaddr, 0)[0]
            except (OSError, UnicodeError):
                name = address
            self.names[address] = name or address
        return f" {self.names[address]} ({address})"

    def run(self) -> int:
        options = self.options
        header_len, data_len = packet_length(options)
        sender_class = {"default": UdpSender, "icmp": IcmpSender, "tcp": TcpSender}[options.method]
        sender = sender_class(options, data_len)
        receiver = None
        try:
            if options.method == "icmp":
                sender.start()  # icmp_init() runs before the header
            self.out(header_text(options, header_len + data_len))
            if options.method != "icmp":
                sender.start()
            try:
                receiver = Receiver(sender)
            except OSError as exc:
                raise SystemCallError("socket", exc) from exc
            self._loop(sender, receiver)
        finally:
            sender.close()
            if receiver is not None:
                receiver.close()
        self.out("\n")
        return 0

    def get_timeout(self, index: int) -> float:
        options, probes = self.options, self.probes
        if options.here:
            first = index - index % self.per_hop
            for probe in probes[first:first + self.per_hop]:
                value = probe.recv_time - probe.send_time
                if probe.done and value > 0:
                    value = (value + DEF_WAIT_PREC) * options.here
                    return value if value < options.wait else options.wait
        if options.near:
            for probe in probes[index + 1:]:
                if not probe.send_time:
                    break
                value = probe.recv_time - probe.send_time
                if probe.done and value > 0:
                    value = (value + DEF_WAIT_PREC) * options.near
                    return value if value < options.wait else options.wait
        return options.wait

    def check_expired(self, index: int) -> None:
        """Replace an expired probe by a later final one when the final probably belongs
        here (traceroute's "*(this) * * ... final" heuristic)."""
        probes, per_hop = self.probes, self.per_hop
        probe = probes[index]
        if not probe.done:
            return
        previous_final = None
        for earlier in probes[index - index % per_hop:index]:
            if not earlier.done or not earlier.final:
                return
            previous_final = earlier
        final_index = None
        for later_index in range(index + 1, len(probes)):
            later = probes[later_index]
            if not later.send_time:
                break
            if later.done:
                if not later.final:
                    return
                final_index = later_index
                break
        if final_index is None:
            return
        final = probes[final_index]
        if not final.err_str:
            return
        if previous_final is not None or (index % per_hop) + (final_index - index) < per_hop:
            self._replace(index, final_index)
            return
        for earlier in probes[:index][::-1]:
            if earlier.address is not None and earlier.address == final.address:
                self._replace(index, final_index)
                return
        if final.recv_ttl:
            back_hops = ttl2hops(final.recv_ttl)
            for earlier_index in range(index - 1, -1, -1):
                earlier = probes[earlier_index]
                if earlier.done and not earlier.final and earlier.recv_ttl:
                    hops = ttl2hops(earlier.recv_ttl)
                    if hops < back_hops:
                        back_hops = (back_hops - hops) + earlier_index // per_hop + 1
                        break
            if back_hops <= index // per_hop + 1:
                self._replace(index, final_index)

    def _replace(self, index: int, final_index: int) -> None:
        self.probes[index] = self.probes[final_index]
        self.probes[final_index] = Probe(send_time=1.0)  # blocks a re-send

    def _record(self, answer: Answer) -> None:
        """recv_reply() for the probe an answer belongs to."""
        for probe in self.probes:
            if probe.seq == answer.seq and not probe.done:
                break
        else:
            return
        probe.recv_time = answer.recv_time
        probe.recv_ttl = answer.recv_ttl
        probe.address = answer.address
        if answer.kind < 0:
            probe.final = True
        else:
            flag = icmp_flag(self.options.family, answer.kind, answer.code, answer.info)
            if flag is not None:
                probe.err_str = flag
                probe.final = True
        probe.done = True
        probe.seq = 0

    def _loop(self, sender: Sender, receiver: Receiver) -> None:
        options, probes, per_hop = self.options, self.probes, self.per_hop
        start = (options.first_hop - 1) * per_hop
        end = len(probes)
        last_send = 0.0
        while start < end:
            in_flight = 0
            next_time = 0.0
            now = time.monotonic()
            index = start
            while index < end:
                probe = probes[index]
                if index == start and not probe.done and probe.send_time:
                    expire = probe.send_time + self.get_timeout(index)
                    if expire > now:
                        next_time = expire
                    else:
                        probe.done = True
                        probe.seq = 0
                        self.check_expired(index)
                        probe = probes[index]
                if probe.done:
                    if index == start:
                        self.out(probe_text(probes, index, per_hop, self.name_of, options.back))
                        start += 1
                    if probe.final:
                        end = (index // per_hop + 1) * per_hop
                    index += 1
                    continue
                if not probe.send_time:
                    if options.send_wait and last_send + options.send_wait > now:
                        next_time = last_send + options.send_wait
                        break
                    sender.send(probe, index // per_hop + 1)
                    if not probe.send_time:
                        if next_time:
                            break
                        raise SystemCallError("send probe", OSError(errno.ENOBUFS, ""))
                    last_send = probe.send_time
                    if probe.done:  # answered locally (EMSGSIZE)
                        continue
                if not next_time:
                    next_time = probe.send_time + self.get_timeout(index)
                in_flight += 1
                if in_flight >= options.sim_probes:
                    break
                index += 1
            if next_time:
                for answer in receiver.wait(next_time - time.monotonic()):
                    self._record(answer)


def main(argv: list[str], family: int = 4, stdout=sys.stdout, stderr=sys.stderr) -> int:
    """Run traceroute (family=6: traceroute6); its output on stdout/stderr, its status back."""
    try:
        options = parse(argv, family)
        if options.action == "help":
            print(USAGE, file=stderr)
            return 0
        if options.action == "version":
            from vrmonitor import __version__

            print(VERSION.format(version=__version__), file=stderr)
            return 0
        return Traceroute(options, stdout, stderr).run()
    except TracerouteError as exc:
        print(exc.text, file=stderr)
        return exc.status
    except SystemCallError as exc:
        stdout.flush()
        print(exc.text, file=stderr)
        return 1
    except KeyboardInterrupt:
        stdout.flush()
        return 130
