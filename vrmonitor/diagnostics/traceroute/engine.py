"""traceroute's engine (do_it): up to -N probes in flight across hops, each expired after its
wait (get_timeout), the "final belongs earlier" heuristic (check_expired), the hops printed in
order as they complete, and the stop after the hop a final answer came from.
"""

import errno
import socket
import time
from typing import Callable

from vrmonitor.diagnostics.toolkit import write
from vrmonitor.diagnostics.traceroute.cli import TracerouteOptions
from vrmonitor.diagnostics.traceroute.methods import (IcmpSender, ProbeSender, TcpSender,
                                                      UdpSender, packet_length, system_error)
from vrmonitor.diagnostics.traceroute.output import (Probe, header_text, icmp_flag, probe_text,
                                                     ttl2hops)
from vrmonitor.diagnostics.traceroute.receiver import Answer, Receiver

DEF_WAIT_PREC = 0.001


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
        write(self.stdout, text)

    def name_of(self, address: str) -> str:
        if self.options.numeric:
            return f" {address}"
        if address not in self.names:
            sockaddr: tuple[str, int] | tuple[str, int, int, int]
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
        senders: dict[str, Callable[[TracerouteOptions, int], ProbeSender]] = {
            "default": UdpSender, "icmp": IcmpSender, "tcp": TcpSender}
        sender = senders[options.method](options, data_len)
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
                raise system_error("socket", exc) from exc
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

    def _loop(self, sender: ProbeSender, receiver: Receiver) -> None:
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
                        raise system_error("send probe", OSError(errno.ENOBUFS, ""))
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

