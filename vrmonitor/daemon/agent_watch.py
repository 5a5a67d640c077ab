"""The cloud agent's PID on a system VM, as a job of the loop.

On the SSVM and the CPVM the agent writes no pidfile, so its PID is looked for every
`every` seconds (a restarted agent is seen within a second: docs/system-vms.md). A router
watches no agent: there the role is only looked at again every `recheck()` seconds, the
service monitor's verification interval, since its own load of the service list at each
verification already follows a role that appears late. Waking the loop every second on a
router cost a turn of every job each time (the idle daemon bench, docs/benchmarks.md)."""

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

    def next_due(self) -> float:
        return self._due

    def tick(self, now: float) -> None:
        if now < self._due:
            return
        if self._system_vm():
            self._refresh()
            self._due = now + self._every
        else:
            self._due = now + max(self._every, self._recheck())
