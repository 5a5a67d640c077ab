"""Records (and blocks) every attempt to run a program or open a socket while armed.

Audit hooks cannot be removed, so one recorder is installed per test module and stays
disarmed (a single attribute test) outside the code under watch. While armed, a watched
event is recorded and refused with PermissionError, so a defect cannot actually run a tool
or send a packet; the test then fails on the recorded event, even if the code under test
swallowed the error.
"""

import sys
from contextlib import contextmanager

WATCHED = frozenset({
    "subprocess.Popen", "os.exec", "os.posix_spawn", "os.spawn", "os.system", "os.fork",
    "os.forkpty", "pty.spawn", "socket.__new__", "socket.sendto", "socket.sendmsg",
    "socket.connect", "socket.bind", "socket.getaddrinfo", "socket.gethostbyname",
})


class ExecRecorder:
    def __init__(self):
        self.armed = False
        self.events: list[tuple[str, str]] = []

    def __call__(self, event: str, args) -> None:
        if not self.armed or event not in WATCHED:
            return
        self.events.append((event, repr(args)[:200]))
        raise PermissionError(f"blocked by the fuzz test: {event}")

    @contextmanager
    def watching(self):
        """Arm for the block; the events recorded in it are in self.events afterwards."""
        self.events = []
        self.armed = True
        try:
            yield self
        finally:
            self.armed = False


def install() -> ExecRecorder:
    recorder = ExecRecorder()
    sys.addaudithook(recorder)
    return recorder
