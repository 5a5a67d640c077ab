"""The cloud agent's PID on a system VM, as a job of the loop.

On the SSVM and the CPVM the agent writes no pidfile, so its PID is looked for every
`every` seconds (a restarted agent is seen within a second: docs/system-vms.md). A router
watches no agent: there the job never wakes the loop. It looks at the role again on a turn
the loop takes anyway, at most every `recheck()` seconds (the service monitor's verification
interval, whose own load of the service list already follows a role that appears late).
Waking the loop for it on a router cost a turn of every job each time (the idle daemon
bench), and its turns, out of step with the verifications, made those wake late (the loop
lag bench: docs/benchmarks.md)."""

import math
from typing import Callable


class AgentWatch:
    def __init__(self, system_vm: Callable[[], bool], refresh: Callable[[], None],
                 every: float, recheck: Callable[[], float]):
        """system_vm: whether the role watches an agent now; refresh: record its PID."""
        self._system_vm = system_vm
        self._refresh = refresh
        self._every = every
        self._recheck = recheck
        self._due = 0.0  # the first turn looks
        self._watching = True  # until the first look says otherwise

    def next_due(self) -> float:
        return self._due if self._watching else math.inf

    def tick(self, now: float) -> None:
        if now < self._due:
            return
        self._watching = self._system_vm()
        if self._watching:
            self._refresh()
            self._due = now + self._every
        else:
            self._due = now + max(self._every, self._recheck())
