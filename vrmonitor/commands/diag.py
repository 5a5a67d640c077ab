"""`vrmonitor diag`: ping, arping and traceroute done with scapy, printed like the Debian tools.

The options are the tool's own, before or after the address; the exit status is the tool's
(a usage error the tool raises instead of printing exits with the status it carries, else
2). The tool's module, and with it scapy, is imported only here, when the command runs:
never at start-up.
"""

import argparse
import sys

TOOLS = ("ping", "ping6", "arping", "traceroute", "traceroute6")
EXIT_USAGE = 2


def add_arguments(parser):
    parser.add_argument("tool", choices=TOOLS, help="ping6 and traceroute6 are the IPv6 variants")
    parser.add_argument("arguments", nargs=argparse.REMAINDER, metavar="ADDRESS [OPTIONS]",
                        help="the address and the tool's options, before or after it")


def run(args, context) -> int:
    from vrmonitor.diagnostics.validate import TOOLS as IMPLEMENTATIONS, exit_status
    from vrmonitor.errors import DiagnosticError

    tool = IMPLEMENTATIONS[args.tool]
    try:
        return tool.main(args.arguments, stdout=sys.stdout, stderr=sys.stderr)
    except DiagnosticError as exc:
        # The tool's own text (`ping: invalid argument: 'x'`) and status, as the Debian tool's.
        print(exc, file=sys.stderr)
        return exit_status(exc, EXIT_USAGE)
