"""What iputils arping (Debian 12, 3:20221126) prints, and its exit status: pure functions.

`vrmonitor.diagnostics.arping` feeds these with the frames it read and the counts it kept;
the arithmetic and the wording are arping's own, so the text matches it byte for byte.
"""

import socket

USAGE = """
Usage:
  arping [options] <destination>

Options:
  -f            quit on first reply
  -q            be quiet
  -b            keep on broadcasting, do not unicast
  -D            duplicate address detection mode
  -U            unsolicited ARP mode, update your neighbours
  -A            ARP answer mode, update your neighbours
  -V            print version and exit
  -c <count>    how many packets to send
  -w <timeout>  how long to wait for a reply
  -i <interval> set interval between packets (default: 1 second)
  -I <device>   which ethernet device to use
  -s <source>   source ip address
  <destination> dns name or ip address

For more details see arping(8)."""


def mac_text(mac: bytes) -> str:
    """A link-layer address as arping prints it: upper-case hex pairs joined by `:`."""
    return ":".join(f"{byte:02X}" for byte in mac)


def elapsed_text(last_ns: int, now_ns: int) -> str:
    """arping's ` %ld.%03ldms` of the time since the last probe, with its own arithmetic (C
    division on the seconds/nanoseconds split): the printed value is the true time + 0.5 ms."""
    last_s, last_n = divmod(last_ns, 10**9)
    now_s, now_n = divmod(now_ns, 10**9)
    nanos = now_n - last_n + 500
    micros = (now_s - last_s) * 1_000_000 + (nanos // 1000 if nanos >= 0 else -(-nanos // 1000))
    millis = micros + 500
    millis = millis // 1000 if millis >= 0 else -(-millis // 1000)
    micros -= millis * 1000 - 500
    return f"{millis}.{micros:03d}ms"


def reply_line(unicast: bool, reply: bool, sender_ip: bytes, sender_mac: bytes,
               target_ip: bytes | None, target_mac: bytes | None, elapsed: str | None) -> str:
    """recv_pack()'s line for one ARP frame, newline-ended. `target_ip` / `target_mac`: the
    frame's target when it is not our address (None when it is); `elapsed`: elapsed_text()
    since the last probe, None when nothing was sent yet."""
    line = [f"{'Unicast' if unicast else 'Broadcast'} {'reply' if reply else 'request'} from "
            f"{socket.inet_ntoa(sender_ip)} [{mac_text(sender_mac)}] "]
    if target_ip is not None:
        line.append(f"for {socket.inet_ntoa(target_ip)} ")
    if target_mac is not None:
        line.append(f"{'' if target_ip is not None else 'for '}[{mac_text(target_mac)}]")
    line.append(f" {elapsed}\n" if elapsed is not None else " UNSOLICITED?\n")
    return "".join(line)


def summary(sent: int, brd_sent: int, received: int, brd_recv: int, req_recv: int) -> str:
    """The `Sent ... probes` and `Received ... response(s)` lines."""
    text = [f"Sent {sent} probes ({brd_sent} broadcast(s))\n", f"Received {received} response(s)"]
    if brd_recv or req_recv:
        parts = []
        if req_recv:
            parts.append(f"{req_recv} request(s)")
        if brd_recv:
            parts.append(f"{brd_recv} broadcast(s)")
        text.append(f" ({', '.join(parts)})")
    text.append("\n")
    return "".join(text)


def exit_status(options, sent: int, brd_sent: int, received: int) -> int:
    """arping 20221126's exit status for a run that got to its summary (see arping's module
    doc); `options` is an ArpingOptions."""
    if options.dad:
        return 1 if received or brd_sent == received else 0
    if options.unsolicited:
        return 0
    if options.deadline and options.count <= 0:
        return 0 if received else 1
    return 0 if received and sent == received else 1
