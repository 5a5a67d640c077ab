"""The one way vrmonitor runs a command.

argv lists only (never a shell), stdin closed, stdout and stderr drained together with a byte
cap, and a deadline after which the whole process group is killed and the leader reaped.

The command runs in a new session, so its process group holds everything it forked unless a
child started a session of its own (as daemons do). The leader's exit is learnt from a pidfd
without reaping it: while the leader is an unreaped zombie its PID, and so the process-group
id, cannot be reused, which makes the final `killpg` safe.

When what a command leaves behind must die (`kill_leftovers`, health checks), its environment
also carries a marker unique to the run. A child that left the session (setsid, a daemonising
script) still inherits it and is found by it in /proc. Such a child is reported in
`Completed.escaped`, not killed: it may be a service the command restarted through its init
script (sshd, dnsmasq), whose death would cost more than a leaked process.
"""

import logging
import os
import secrets
import select
import selectors
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from typing import Mapping, Sequence

from vrmonitor.errors import CommandError

LOG = logging.getLogger(__name__)

READ_CHUNK = 65536
# After the leader exits or is killed, how long to keep reading what is already in the pipes
# when something outside the group (a daemonised child) still holds them open.
DRAIN_GRACE = 0.5
# How often a cancellable run looks at its cancel event.
CANCEL_POLL = 0.2
# The environment variable that marks everything one run started (kill_leftovers).
RUN_MARKER = "VRMONITOR_RUN"


@dataclass(frozen=True)
class Completed:
    argv: tuple[str, ...]
    returncode: int  # negative: killed by that signal
    stdout: bytes
    stderr: bytes
    stdout_truncated: bool
    stderr_truncated: bool
    timed_out: bool
    duration: float  # seconds, monotonic
    cancelled: bool = False  # stopped early because the caller asked (e.g. the daemon stopping)
    # "PID (name)" of what the command left running in a session of its own (kill_leftovers runs)
    escaped: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out


class _Capped:
    """Collects at most `cap` bytes of a stream and remembers whether more came."""

    def __init__(self, cap: int):
        self.cap = cap
        self.data = bytearray()
        self.truncated = False

    def feed(self, chunk: bytes) -> None:
        room = self.cap - len(self.data)
        if len(chunk) > room:
            self.truncated = True
            chunk = chunk[:max(room, 0)]
        self.data += chunk


def run(argv: Sequence[str], *, timeout: float, cap: int = 16384,
        cwd: str | os.PathLike | None = None, env: Mapping[str, str] | None = None,
        kill_leftovers: bool = True, cancel: threading.Event | None = None) -> Completed:
    """Run `argv` and return what it did; raise CommandError if it cannot be started.

    timeout: seconds until the whole process group is killed with SIGKILL.
    cap: bytes kept of stdout and of stderr each; the rest is read and dropped.
    kill_leftovers: once the leader exits, kill what it left running in its process group
      (right for checks; pass False for init scripts, whose services must survive them).
    cancel: when set, the process group is killed as at a timeout (noticed within CANCEL_POLL).
    """
    if not argv:
        raise CommandError("empty command")
    argv = tuple(str(a) for a in argv)
    marker = None
    if kill_leftovers:
        token = f"{os.getpid()}.{secrets.token_hex(8)}"
        env = {**(os.environ if env is None else env), RUN_MARKER: token}
        marker = f"{RUN_MARKER}={token}".encode()
    started = time.monotonic()
    deadline = started + timeout
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, cwd=cwd, env=env,
                                start_new_session=True, close_fds=True)
    except OSError as exc:
        raise CommandError(f"cannot run {argv[0]}: {exc.strerror or exc}") from exc

    assert proc.stdout is not None and proc.stderr is not None  # both are PIPEs
    outputs = {proc.stdout.fileno(): _Capped(cap), proc.stderr.fileno(): _Capped(cap)}
    timed_out = cancelled = False
    with selectors.DefaultSelector() as selector:
        for fd in outputs:
            os.set_blocking(fd, False)
            selector.register(fd, selectors.EVENT_READ)
        exit_watch = _ExitWatch(proc.pid, selector)
        try:
            stop_reading_at = deadline
            draining = False  # the leader is gone: only collect what is left in the pipes
            while len(selector.get_map()) > exit_watch.registered:
                now = time.monotonic()
                if not draining and cancel is not None and cancel.is_set():
                    cancelled, deadline = True, now
                if not draining and now >= deadline:
                    timed_out, draining = not cancelled, True
                    _kill_group(proc.pid)
                    exit_watch.wait_blocking()
                    stop_reading_at = now + DRAIN_GRACE
                    continue
                if now >= stop_reading_at:
                    break
                wait = min(stop_reading_at - now, exit_watch.poll_interval)
                if cancel is not None:
                    wait = min(wait, CANCEL_POLL)
                for key, _ in selector.select(wait):
                    if not exit_watch.is_event(key):
                        _read_into(key.fd, outputs[key.fd], selector)
                if not draining and exit_watch.check():
                    draining = True
                    if kill_leftovers:
                        _kill_group(proc.pid)
                    stop_reading_at = time.monotonic() + DRAIN_GRACE
            if not draining and not exit_watch.wait(deadline - time.monotonic()):
                # The pipes closed but the leader kept running until the deadline.
                timed_out = True
        finally:
            if kill_leftovers or timed_out or cancelled:
                _kill_group(proc.pid)
            escaped = _marked(marker, exclude=proc.pid) if marker is not None else ()
            exit_watch.close()
            returncode = proc.wait()
            proc.stdout.close()
            proc.stderr.close()
    out, err = outputs.values()
    return Completed(argv, returncode, bytes(out.data), bytes(err.data), out.truncated,
                     err.truncated, timed_out, time.monotonic() - started, cancelled, escaped)


def _read_into(fd: int, sink: _Capped, selector: selectors.BaseSelector) -> None:
    try:
        chunk = os.read(fd, READ_CHUNK)
    except BlockingIOError:
        return
    if chunk:
        sink.feed(chunk)
    else:
        selector.unregister(fd)


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _marked(marker: bytes, exclude: int) -> tuple[str, ...]:
    """"PID (name)" of each live process but `exclude` whose environment holds `marker`."""
    needle = b"\0" + marker + b"\0"
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == exclude:
            continue
        try:
            with open(f"/proc/{entry.name}/environ", "rb") as environ:
                if needle not in b"\0" + environ.read():
                    continue
            with open(f"/proc/{entry.name}/stat", "rb") as stat:
                fields = stat.read()
        except OSError:
            continue  # gone meanwhile, or a kernel thread
        name, _, rest = fields.partition(b"(")[2].rpartition(b")")
        if rest.split()[:1] != [b"Z"]:
            found.append(f"{entry.name} ({name.decode(errors='replace')})")
    return tuple(found)


class _ExitWatch:
    """Tells when the leader has exited, without reaping it (pidfd, else WNOWAIT polling)."""

    def __init__(self, pid: int, selector: selectors.BaseSelector):
        self.pid = pid
        self.exited = False
        self._fd = None
        try:
            self._fd = os.pidfd_open(pid)
        except (AttributeError, OSError):
            self.poll_interval = 0.05
            self.registered = 0
        else:
            selector.register(self._fd, selectors.EVENT_READ)
            self._selector = selector
            self.poll_interval = 3600.0
            self.registered = 1

    def is_event(self, key: selectors.SelectorKey) -> bool:
        return self._fd is not None and key.fd == self._fd

    def check(self) -> bool:
        if not self.exited:
            try:
                info = os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
                self.exited = info is not None
            except ChildProcessError:
                self.exited = True
            if self.exited and self._fd is not None:
                self._selector.unregister(self._fd)
                self.registered = 0
        return self.exited

    def wait(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for the leader to exit (without reaping it)."""
        end = time.monotonic() + max(timeout, 0.0)
        while not self.check():
            remaining = end - time.monotonic()
            if remaining <= 0:
                return False
            if self._fd is not None:
                select.select([self._fd], [], [], remaining)
            else:
                time.sleep(min(remaining, self.poll_interval))
        return True

    def wait_blocking(self) -> None:
        """After SIGKILL: the leader dies at once; wait for it without reaping."""
        try:
            os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOWAIT)
        except ChildProcessError:
            pass
        self.check()

    def close(self) -> None:
        if self._fd is not None:
            if self.registered:
                self._selector.unregister(self._fd)
            os.close(self._fd)
            self._fd = None
