"""The installed CloudStack entry points, run as the management server runs them (contract 2.5, 4.2, 5.2).

A smaller budget: one process per example. For each: the exit status the contract gives, stdout
exactly the contract's shape (byte for byte where it can be computed in-process), nothing at all
on stderr (the agent merges it into what the server parses, contract 1; VRMONITOR_DEBUG=1 turns
an internal error into a traceback there), and the server's parse of the answer. Warnings go to
<root>/var/log/monitor.log instead.
diagnostics.py only gets inputs that validation refuses in this process first (with the
audit-hook recorder blocking any start), so no example can send a packet.
"""

import re
import subprocess
from pathlib import Path

import pytest
from hypothesis import assume, given, settings, strategies as st

from tests.fuzz import exec_recorder
from tests.fuzz.budget import examples
from tests.fuzz.mutations import TEXT_CHARACTERS
from tests.fuzz.test_fuzz_alerts import THRESHOLD_PARTS
from tests.fuzz.test_fuzz_diagnostics import ADDRESSES, BAD_CHARACTERS, PARAM_WORDS, checked
from tests.fuzz.test_fuzz_diagnostics_files import HOSTILE
from tests.ms_parsers import Answer, diagnostics, diagnostics_zip, router_alerts
from vrmonitor.alerts.feed import legacy_lines
from vrmonitor.alerts.store import AlertStore
from vrmonitor.cloudstack.alert_line import answer, parse_threshold
from vrmonitor.compat.diagnostics import diagnose, envelope
from vrmonitor.compat.install import install
from vrmonitor.diagnostics.collect import KEYWORDS
from vrmonitor.paths import Paths

pytestmark = [pytest.mark.fuzz]

PER_PROCESS = settings(max_examples=examples(40, 400), deadline=None)
ENV = {"PATH": "/usr/bin:/bin", "VRMONITOR_DEBUG": "1", "LANG": "C.UTF-8"}
LOG = ("2024-05-01 10:00:00,100 [ALERT] [sshd] The process detected as running\n\n"
       "2024-05-01 10:03:05,200 [INFO] [dnsmasq] The process dnsmasq is recovered successfully \n\n"
       "2024-05-01 10:06:07,300 [ALERT] [The process haproxy recover failed ] haproxy\n\n")
LOG_SECONDS = ("2024-05-01 10:00:00", "2024-05-01 10:03:05", "2024-05-01 10:06:07")


@pytest.fixture(scope="module")
def recorder():
    return exec_recorder.install()


@pytest.fixture(scope="module")
def paths(tmp_path_factory):
    paths = Paths(tmp_path_factory.mktemp("entry-points"))
    install(paths)
    paths.alert_log.parent.mkdir(parents=True, exist_ok=True)
    paths.alert_log.write_text(LOG)
    return paths


def run(paths, script: str, args) -> tuple[subprocess.CompletedProcess, Answer]:
    """The script with stdout and stderr apart; stderr must be empty. Also the Answer the agent
    makes of it."""
    done = subprocess.run([str(paths.under(script)), *args], capture_output=True, env=ENV,
                          timeout=60)
    assert done.stderr == b"", done.stderr.decode("utf-8", "replace")
    return done, Answer.of(done.stdout, done.returncode)


def appended_to_log(paths, before: int) -> str:
    """What was appended to <root>/var/log/monitor.log after offset `before`."""
    with open(paths.monitor_log, "ab+") as log:
        log.seek(before)
        return log.read().decode()


def log_size(paths) -> int:
    return paths.monitor_log.stat().st_size if paths.monitor_log.exists() else 0


@PER_PROCESS
@given(st.text(TEXT_CHARACTERS, max_size=10), ADDRESSES,
       st.lists(PARAM_WORDS | st.builds(lambda word, bad: word + bad, PARAM_WORDS, BAD_CHARACTERS),
                max_size=4))
def test_diagnostics_py_refusals_are_three_parts_and_exit_0(recorder, paths, kind, address, params):
    kind = kind if kind and kind[0] != "-" else "x" + kind
    argv = [kind, address, *params]
    with recorder.watching():
        _, accepted = checked(argv)
        assume(not accepted)  # never run a tool from here
        outcome = diagnose(argv, paths)
        expected = envelope(outcome)
    assert recorder.events == []
    done, reply = run(paths, "/opt/cloud/bin/diagnostics.py", argv)
    assert done.returncode == 0
    assert done.stdout.decode() == expected
    result = diagnostics(reply)
    assert outcome.code != 0 and result["exitcode"] == str(outcome.code)
    assert result["stdout"] == "" and "&&" not in result["stderr"]
    assert result["stderr"].split(":")[0] == outcome.stderr.split(":")[0] != ""  # who refused


@PER_PROCESS
@given(st.lists(THRESHOLD_PARTS, max_size=3))
def test_get_router_alerts_answers_any_timestamp(paths, args):
    threshold = parse_threshold(*args[:2]) if len(args) >= 2 else None
    expected = answer(legacy_lines(AlertStore(paths), threshold))
    before = log_size(paths)
    done, reply = run(paths, "/opt/cloud/bin/getRouterAlerts.sh", args)
    assert done.returncode == 0
    assert done.stdout == expected.encode()
    alerts, timestamp = router_alerts(reply)
    newer = [second for second in LOG_SECONDS if threshold is None or second > threshold]
    assert [alert[:19] for alert in alerts] == newer
    assert timestamp == (LOG_SECONDS[-1] if newer else None)
    logged = appended_to_log(paths, before)
    if len(args) == 1 or (len(args) >= 2 and threshold is None):
        # One record (the arguments are in it as given, line breaks included).
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} getRouterAlerts\.sh\[\d+\]: "
                            r"WARNING: .*; answering with all alerts\n", logged, re.DOTALL), logged
    else:
        assert logged == ""


@settings(PER_PROCESS, max_examples=examples(15, 150))
@given(st.lists(HOSTILE.filter(lambda item: item.strip() not in KEYWORDS
                               and item.strip()[1:-1] not in KEYWORDS and "\x00" not in item),
                max_size=5))
def test_get_diagnostics_files_prints_only_the_zip_path(paths, items):
    done, reply = run(paths, "/opt/cloud/bin/get_diagnostics_files.py", items)
    assert done.returncode == 0
    stdout = done.stdout.decode()
    home = re.escape(str(paths.under("/root")))
    assert re.fullmatch(rf"{home}/diagnostics_files_\d{{8}}-\d{{6}}(-\d+)?\.zip\n", stdout), stdout
    assert diagnostics_zip(reply) == stdout[:-1]
    Path(stdout.strip()).unlink()
