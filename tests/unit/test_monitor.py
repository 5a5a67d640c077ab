"""Detection's verdicts on pidfiles that name no process (no process is started here: those
tests are in tests/integration/test_monitor_processes.py)."""

import pytest

from vrmonitor.services.detect import ServiceState, observe


@pytest.mark.parametrize("content, reason", [
    (None, "pidfile {p} is missing"),
    ("garbage\n", "pidfile {p} holds 'garbage', not a PID"),
    ("", "pidfile {p} holds 'nothing', not a PID"),
])
def test_bad_pidfiles_say_what_is_wrong(tmp_path, content, reason):
    pidfile = tmp_path / "x.pid"
    if content is not None:
        pidfile.write_text(content)
    seen = observe("sleep", str(pidfile))
    assert seen.state is ServiceState.DOWN and seen.reason == reason.format(p=pidfile)
