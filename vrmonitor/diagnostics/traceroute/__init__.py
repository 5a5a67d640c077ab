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

The modules follow Butskoy's source: cli (clif and the option table), methods (mod-udp,
mod-icmp, mod-tcp), receiver (the answers), engine (do_it), output (print_probe and the
header). Needs CAP_NET_RAW. scapy's layer modules are imported on first use only.
"""

import sys

from vrmonitor.diagnostics.toolkit import ToolExit
from vrmonitor.diagnostics.traceroute.cli import USAGE, VERSION, TracerouteOptions, parse
from vrmonitor.diagnostics.traceroute.engine import Traceroute
from vrmonitor.diagnostics.traceroute.methods import packet_length
from vrmonitor.diagnostics.traceroute.output import (Probe, header_text, icmp_flag, probe_text,
                                                     ttl2hops)
from vrmonitor.diagnostics.traceroute.receiver import Answer

__all__ = ["Answer", "Probe", "Traceroute", "TracerouteOptions", "USAGE", "VERSION", "header_text",
           "icmp_flag", "main", "packet_length", "parse", "probe_text", "ttl2hops"]


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
    except ToolExit as exc:
        return exc.report(stdout, stderr)
    except KeyboardInterrupt:
        stdout.flush()
        return 130
