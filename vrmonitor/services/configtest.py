"""Configuration tests: ask a daemon whether its configuration is valid before restarting it.

A restart with a broken configuration only takes a running service down (or fails the same
way every time); the test's own message says what to fix. No test, or a test program that is
not installed, gives None: the caller then simply restarts.
"""

import logging
import os
import re
import stat
import threading

from vrmonitor.errors import CommandError
from vrmonitor.system.initsys import ActionResult, describe_failure, find_command
from vrmonitor.system.process import run

LOG = logging.getLogger(__name__)

# Keyed by processname (/etc/monitor.conf). On a CloudStack router /etc/dnsmasq.conf itself
# holds conf-dir=/etc/dnsmasq.d, so `dnsmasq --test` covers the drop-ins too.
DEFAULT_TESTS: dict[str, tuple[str, ...]] = {
    "dnsmasq": ("dnsmasq", "--test"),
    "haproxy": ("haproxy", "-c", "-f", "/etc/haproxy/haproxy.cfg"),
    "apache2": ("apache2ctl", "configtest"),
    "sshd": ("/usr/sbin/sshd", "-t"),
}

# What the start of a daemon creates before that daemon's own configuration test runs: systemd's
# RuntimeDirectory= and the init script's mkdir. ssh.service removes /run/sshd whenever ssh stops,
# and `sshd -t` then fails ("Missing privilege separation directory"): a test run while the
# service is down would block the restart for a reason the start itself fixes. So the gate
# creates them first, as the start would (root's, 0755). The other three tests need none:
# apache2ctl makes its own run folders, `dnsmasq --test` and `haproxy -c` none
# (tests/integration/test_configtest.py runs all four on an empty /run).
RUNTIME_FOLDERS: dict[str, tuple[str, ...]] = {
    "sshd": ("/run/sshd",),
}

OUTPUT_CAP = 65536
MAX_LINES = 12
MAX_CHARS = 2000
# Lines that say nothing about the problem: haproxy's banner notices, apache's closing advice.
_NOISE = re.compile(r"^\[NOTICE\]|^The Apache error log may have more information\.?$")


def config_test(processname: str, override: tuple[str, ...] | None = None,
                timeout: float = 30.0, runner=run) -> ActionResult | None:
    """Run the configuration test of `processname` (or `override`, an argv).

    None when there is no test for it or the test program cannot be run (not installed).
    ok=False carries the tool's message, trimmed to its meaningful lines; a test that hangs
    past `timeout` also counts as failed.
    """
    argv = tuple(override) if override else DEFAULT_TESTS.get(processname)
    if not argv:
        return None
    command = " ".join(argv)
    path = find_command(argv[0])
    if path is None:
        LOG.debug("no configuration test for %s: %s is not installed", processname, argv[0])
        return None
    prepare_runtime_folders(processname)
    try:
        completed = runner([path, *argv[1:]], timeout=timeout, cap=OUTPUT_CAP,
                           kill_leftovers=True)
    except CommandError as exc:
        LOG.warning("configuration test of %s not run: %s", processname, exc)
        return None
    if completed.ok:
        return ActionResult(True, _meaningful(completed.stdout + b"\n" + completed.stderr))
    if completed.timed_out or completed.returncode < 0:
        return ActionResult(False, describe_failure(completed, command, timeout))
    message = _meaningful(completed.stdout + b"\n" + completed.stderr)
    return ActionResult(False, message or f"{command} exited with status {completed.returncode}")


def prepare_runtime_folders(processname: str, folders: dict | None = None) -> None:
    """Create the runtime folders the start of `processname` would create (RUNTIME_FOLDERS),
    root's and 0755, as systemd and the init scripts do; one that stands already is left as
    it is. A folder that cannot be made is logged: the test then says what it misses."""
    for folder in (RUNTIME_FOLDERS if folders is None else folders).get(processname, ()):
        try:
            os.mkdir(folder, 0o755)
        except FileExistsError:
            continue
        except OSError as exc:
            LOG.warning("cannot create %s before the configuration test of %s: %s",
                        folder, processname, exc.strerror or exc)
            continue
        os.chmod(folder, 0o755)  # mkdir's mode is cut by the umask
        LOG.info("created %s, as the start of %s does, for its configuration test",
                 folder, processname)


def _meaningful(output: bytes) -> str:
    """The lines that describe the result: no blanks, no banners, no repeats, at most a few."""
    lines = []
    for raw in output.decode("utf-8", "replace").splitlines():
        line = raw.strip()
        if line and not _NOISE.search(line) and line not in lines:
            lines.append(line)
    if len(lines) > MAX_LINES:
        lines = lines[:MAX_LINES] + [f"... ({len(lines) - MAX_LINES} more lines)"]
    text = "\n".join(lines)
    return text if len(text) <= MAX_CHARS else text[:MAX_CHARS - 3] + "..."


# Where each daemon's configuration lives (not relocated: the daemons' own paths). A change to
# any of these files is what can make a passed config test stale.
CONFIG_FILES = {
    "dnsmasq": ("/etc/dnsmasq.conf", "/etc/dnsmasq.d", "/etc/default/dnsmasq"),
    "haproxy": ("/etc/haproxy/haproxy.cfg",),
    "apache2": ("/etc/apache2",),
    "sshd": ("/etc/ssh/sshd_config", "/etc/ssh/sshd_config.d"),
}


def fingerprint(paths) -> tuple:
    """(path, inode, size, mtime) of every file at or below `paths`; changes when any changes."""
    seen: list[tuple[str, str | None] | tuple[str, int, int, int]] = []
    pending = list(paths)
    while pending:
        path = pending.pop()
        try:
            info = os.stat(path)
        except OSError:
            seen.append((path, None))
            continue
        if stat.S_ISDIR(info.st_mode) and not os.path.islink(path):
            try:
                pending.extend(os.path.join(path, name) for name in os.listdir(path))
            except OSError:
                seen.append((path, "unreadable"))
            continue
        seen.append((path, info.st_ino, info.st_size, info.st_mtime_ns))
    return tuple(sorted(seen, key=lambda item: item[0]))


class ConfigGate:
    """The config test before a restart, without paying for it twice for the same files.

    A test that passed is remembered with the fingerprint of the daemon's configuration files;
    while they are unchanged, the next restart goes ahead at once. The daemon primes the gate in
    the background when a service comes up, so a crash is followed by a bare restart. A custom
    test command (an override) is always run: its files are unknown."""

    def __init__(self, test=None, files: dict | None = None):
        self._test = test or config_test
        self._files = CONFIG_FILES if files is None else files
        self._passed: dict[str, tuple] = {}
        self._lock = threading.Lock()

    def check(self, processname: str, override: tuple[str, ...] | None = None) -> ActionResult | None:
        """Like config_test(); None also when the configuration is known good."""
        files = self._files.get(processname) if override is None else None
        state = fingerprint(files) if files else None
        with self._lock:
            if state is not None and self._passed.get(processname) == state:
                return None
        result = self._test(processname, override)
        if state is not None and result is not None and result.ok:
            with self._lock:
                self._passed[processname] = state
        return result
