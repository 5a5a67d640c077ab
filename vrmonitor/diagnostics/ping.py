"""`vrmonitor diag ping` / `ping6`: ICMP echo with scapy, printed like Debian 12's iputils ping.

The behaviour copied is iputils 3:20221126 (the `iputils-ping` of Debian 12), checked side by
side with the real tool on a namespace topology (tests/integration/test_diag_ping.py):

- options `-c -i -W -w -s -t -I -n -q -D -4 -6 -h -V`, before or after the address, in the
  getopt forms ping accepts (`-c4`, `-nq`, `--`), with ping's own error texts and exit codes
  (`invalid argument: 'x'` exits 1, an unknown option prints the usage and exits 2); the other
  iputils options are refused with exit 2 (`option -f is not supported by vrmonitor`);
- timing: one probe every `-i` seconds; after the `-c`th probe ping waits for the replies
  still due (twice the slowest round trip but at least one interval, or the `-W` linger,
  10 s by default, when nothing answered); `-w` ends the whole run at the deadline, and with
  `-c` it keeps probing until `-c` replies came; an ICMP error with `-w` ends the run;
- output: the header, one line per reply (`time=` precision as ping), `(DUP!)`, one
  `From <reporter> icmp_seq=<n> <text>` line per ICMP error about one of our probes, the
  statistics with `+N duplicates`, `+N errors`, `%g` loss, `time NNNms`, the rtt line, `pipe N`;
- exit status 0 with a reply (with `-w` and `-c`: `-c` replies), 1 without, 2 for errors.

How (ping_session.py): scapy's layers build each echo request and dissect what comes back;
a kernel raw ICMP socket sends and receives, so the kernel routes and resolves neighbours
itself (an absent on-link host answers with the kernel's own "Destination Host Unreachable"
after its ARP attempts, as for ping). ICMP errors arrive, as for ping, through the socket's error queue
(IP_RECVERR): each names the reporter and quotes our request (identifier + sequence).
Round trips are measured with time.monotonic_ns(): the send time travels in the first 16
bytes of the data, like ping's timeval, and is read back from the reply.

scapy is imported only when the first packet is built (the layer modules only, never
scapy.all); its import-time log messages are kept off stderr.
"""

import math
import socket
import sys

from vrmonitor.diagnostics import ping_output as out
from vrmonitor.diagnostics.ping_options import PingOptions
from vrmonitor.diagnostics.ping_session import Session, TryNext
from vrmonitor.diagnostics.toolkit import (INT_MAX, LONG_MAX, InvalidNumber, ToolExit,
                                           c_strtod_erange, getopt, strtol_or_err, write)

OPTSTRING = "h?4bRT:6F:N:aABc:CdDe:fi:I:l:Lm:M:nOp:qQ:rs:S:t:UvVw:W:"
SUPPORTED = set("h?46cDiInqstVwW")




# ---- the command line -------------------------------------------------------------------------

def parse(argv: list[str], family: int = 4) -> PingOptions:
    """Read a ping (family 4) or ping6 (family 6) command line as iputils 20221126 does.

    Options may come before and after the address (getopt's permutation). Raises ToolExit
    (a DiagnosticError) with ping's message and exit status for a bad command line, and for
    iputils options vrmonitor does not implement.
    """
    prog = "ping6" if family == 6 else "ping"
    values: dict = {"family": socket.AF_INET6 if family == 6 else socket.AF_UNSPEC}
    warnings: list[str] = []
    operands: list[str] = []

    def fail(message: str, status: int) -> ToolExit:
        # ping prints the warnings of the options read so far before its error.
        return ToolExit("".join(w + "\n" for w in warnings) + message, status)

    def usage_error(message: str) -> ToolExit:
        return fail(f"{prog}: {message}\n{out.USAGE}", 2)

    for option, value in getopt(argv, OPTSTRING, usage_error):
        if option is None:
            assert value is not None  # getopt yields (None, operand) for an operand
            operands.append(value)
        elif option == "V":
            return PingOptions(prog, values["family"], (), version=True, warnings=tuple(warnings))
        else:
            try:
                _option(prog, option, value, values, warnings, fail)
            except InvalidNumber as exc:
                raise fail(f"{prog}: {exc}", 1) from None
    if not operands:
        raise fail(f"{prog}: usage error: Destination address required", 1)
    return PingOptions(prog=prog, targets=tuple(operands), warnings=tuple(warnings), **values)


def _option(prog, option, value, values, warnings, fail) -> None:
    """Apply one option to `values`, as ping's getopt loop does (errors raised through fail)."""
    if option in "h?":
        raise fail(out.USAGE, 2)
    if option not in SUPPORTED:
        raise fail(f"{prog}: option -{option} is not supported by vrmonitor", 2)
    if option in "46":
        wanted = socket.AF_INET if option == "4" else socket.AF_INET6
        other = socket.AF_INET6 if option == "4" else socket.AF_INET
        if values["family"] == other:
            raise fail(f"{prog}: only one -4 or -6 option may be specified", 2)
        values["family"] = wanted
    elif option == "c":
        values["count"] = strtol_or_err(value, 1, LONG_MAX)
    elif option == "i":
        seconds = _strtod(prog, value, "bad timing interval", warnings, fail)
        if seconds > INT_MAX // 1000:
            raise fail(f"{prog}: bad timing interval: {value}", 2)
        values["interval_ms"] = int(seconds * 1000)
    elif option == "W":
        seconds = _strtod(prog, value, "bad linger time", warnings, fail)
        if seconds < 0 or seconds > INT_MAX // 1000:
            raise fail(f"{prog}: bad linger time: {value}", 2)
        values["linger_ms"] = int(seconds * 1000)
    elif option == "w":
        values["deadline"] = strtol_or_err(value, 0, INT_MAX)
    elif option == "s":
        values["datalen"] = strtol_or_err(value, 0, INT_MAX)
    elif option == "t":
        values["ttl"] = strtol_or_err(value, 0, 255)
    elif option == "I":
        _interface_option(prog, value, values, fail)
    elif option == "n":
        values["numeric"] = True
    elif option == "q":
        values["quiet"] = True
    elif option == "D":
        values["timestamps"] = True


def _interface_option(prog, value, values, fail) -> None:
    """-I: an IPv6 address (with an optional %device), an IPv4 address, or a device name."""
    if ":" in value:
        address, percent, device = value.partition("%")
        try:
            socket.inet_pton(socket.AF_INET6, address)
        except OSError:
            raise fail(f"{prog}: invalid source address: {value}", 2) from None
        values["source"] = address
        if percent:
            values["device"] = device
        return
    try:
        socket.inet_pton(socket.AF_INET, value)
    except OSError:
        values["device"] = value
        return
    values["source"] = value


def _strtod(prog: str, text: str, what: str, warnings: list[str], fail) -> float:
    """ping_strtod: C strtod, trailing garbage warned about (and ignored), inf/nan refused."""
    if not text:
        raise fail(f"{prog}: {what}: ", 2)
    value, end, out_of_range = c_strtod_erange(text)
    if out_of_range or end == 0 or end < len(text):
        warnings.append(f"{prog}: option argument contains garbage: {text[end:]}")
        warnings.append(f"{prog}: this will become fatal error in the future")
    if math.isnan(value) or math.isinf(value) or (value != 0 and abs(value) < sys.float_info.min):
        raise fail(f"{prog}: {what}: {text}: Numerical result out of range", 2)
    return value


# ---- running ----------------------------------------------------------------------------------

def main(argv: list[str], family: int = 4, stdout=sys.stdout, stderr=sys.stderr) -> int:
    """Run ping (family 4) or ping6 (family 6) with `argv` (address and options, without the
    program name); write what ping writes; return its exit status (0 reply, 1 none, 2 error)."""
    try:
        options = parse(argv, family)
    except ToolExit as exc:
        return exc.report(stdout, stderr)
    write(stderr, "".join(w + "\n" for w in options.warnings))
    if options.version:
        from vrmonitor import __version__

        write(stdout, f"{options.prog} from vrmonitor {__version__} "
                       f"(the output of iputils 20221126)\n")
        return 0
    try:
        return _run(options, stdout, stderr)
    except ToolExit as exc:
        return exc.report(stdout, stderr)
    except ImportError as exc:  # scapy missing: python3-scapy is a dependency of the package
        write(stderr, f"{options.prog}: cannot load scapy: {exc}\n")
        return 2
    except KeyboardInterrupt:  # before the probes started: ping dies of the signal there
        return 130


def _run(options: PingOptions, stdout, stderr) -> int:
    """Resolve the target and ping its first address of the wanted family.

    Like ping, resolve for both families (getaddrinfo's scope ids need it, iputils #252) and
    skip the addresses of a family -4/-6 (or ping6) excludes; the next address is tried only
    when connect() finds no route to one.
    """
    prog, target = options.prog, options.target
    try:
        found = socket.getaddrinfo(target, None, socket.AF_UNSPEC, socket.SOCK_DGRAM,
                                   socket.IPPROTO_UDP, socket.AI_CANONNAME)
    except socket.gaierror as exc:
        raise ToolExit(f"{prog}: {target}: {exc.strerror}") from None
    for position, info in enumerate(found):
        last = position == len(found) - 1
        if options.family != socket.AF_UNSPEC and info[0] != options.family:
            if last:
                raise ToolExit(f"{prog}: {target}: Address family for hostname not supported")
            continue
        if info[0] not in (socket.AF_INET, socket.AF_INET6):
            raise ToolExit(f"{prog}: unknown protocol family: {info[0]}")
        session = Session(options, stdout, stderr, info[0])
        try:
            session.set_up(info, last=last)
        except TryNext:
            session.close()
            continue
        try:
            return session.run()
        finally:
            session.close()
    raise ToolExit(f"{prog}: {target}: Name or service not known")
