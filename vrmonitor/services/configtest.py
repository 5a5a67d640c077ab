"""Configuration tests: ask a daemon whether its configuration is valid before restarting it.

A restart with a broken configuration only takes a running service down (or fails the same
way every time); the test's own message says what to fix. No test, or a test program that is
not installed, gives None: the caller then simply restarts.
"""

import logging
import re

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
