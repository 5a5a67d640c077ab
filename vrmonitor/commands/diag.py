"""`vrmonitor diag`: ping, arping and traceroute done with scapy, printed like the Debian tools."""

from vrmonitor.commands import not_implemented

TOOLS = ("ping", "ping6", "arping", "traceroute", "traceroute6")


def add_arguments(parser):
    parser.add_argument("tool", choices=TOOLS)
    parser.add_argument("arguments", nargs="...", metavar="ADDRESS [OPTIONS]",
                        help="the address and the tool's options, before or after it")


def run(args, context) -> int:
    return not_implemented("diag")
