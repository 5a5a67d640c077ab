"""The alert log and feed: reference bytes, the MS's parse, and the losses the reference had."""

import gzip
import json
import math
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from tests.ms_parsers import Answer, Dropped, agent_call, router_alerts
from vrmonitor.alerts.feed import json_feed, legacy_lines, poll
from vrmonitor.alerts.store import AlertStore
from vrmonitor.alerts.writer import AlertWriter
from vrmonitor.cli import main
from vrmonitor.cloudstack.alert_line import answer
from vrmonitor.compat.install import install
from vrmonitor.paths import Paths

A2_LOG = ("2024-05-01 10:00:00,100 [ALERT] [sshd] The process detected as running\n\n"
          "2024-05-01 10:03:05,200 [INFO] [dnsmasq] The process dnsmasq is recovered successfully \n\n"
          "2024-05-01 10:06:07,300 [ALERT] [The process haproxy recover failed ] haproxy\n\n")
A2_ANSWER = ("2024-05-01 10:03:05,200 [INFO] [dnsmasq] The process dnsmasq is recovered successfully "
             "\\n2024-05-01 10:06:07,300 [ALERT] [The process haproxy recover failed ] haproxy\\n\n")


class FakeClock:
    """A wall clock the test sets; monotonic time is not used by the writer."""

    def __init__(self, when: str):
        self.now = datetime.strptime(when, "%Y-%m-%d %H:%M:%S.%f").timestamp()

    def wall(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return 0.0


@pytest.fixture
def paths(tmp_path) -> Paths:
    return Paths(tmp_path)


def write_log(paths: Paths, text: str | bytes, name: str = "routerServiceMonitor.log") -> Path:
    target = paths.alert_log.with_name(name)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(text.encode() if isinstance(text, str) else text)
    return target


def run_compat_bytes(paths: Paths, *args: str) -> tuple[int, bytes, bytes]:
    """The installed getRouterAlerts.sh with stdout and stderr apart, as bytes."""
    install(paths)
    done = subprocess.run([str(paths.under("/opt/cloud/bin/getRouterAlerts.sh")), *args],
                          capture_output=True, env={"PATH": "/usr/bin:/bin"}, timeout=60)
    return done.returncode, done.stdout, done.stderr


def run_compat(paths: Paths, *args: str) -> tuple[int, str, str]:
    """The same, decoded: for the tests that compare stdout and stderr apart, exactly."""
    code, out, err = run_compat_bytes(paths, *args)
    return code, out.decode(), err.decode()


def ms_poll(paths: Paths, *args: str) -> Answer:
    """The installed getRouterAlerts.sh as the agent runs it: stderr merged into the answer."""
    install(paths)
    return agent_call([str(paths.under("/opt/cloud/bin/getRouterAlerts.sh")), *args], timeout=60)


def shell_words(timestamp: str) -> list[str]:
    """The management server's timestamp as the VM's login shell splits it (default IFS)."""
    return [word for word in re.split(r"[ \t\n]+", timestamp) if word]


# --- contract scenarios A1 and A2, through the installed entry point ---

def test_a1_no_alert_log(paths):
    assert run_compat(paths, "1970-01-01", "00:00:00") == (0, "No Alerts\n", "")
    assert router_alerts(ms_poll(paths, "1970-01-01", "00:00:00")) == ([], None)


def test_a2_alerts_since_a_timestamp_byte_exact_and_as_the_ms_parses_them(paths):
    write_log(paths, A2_LOG)
    code, out, err = run_compat(paths, "2024-05-01", "10:00:00")
    assert (code, out, err) == (0, A2_ANSWER, "")
    alerts, timestamp = router_alerts(Answer.of(out, code))
    assert len(alerts) == 2 and timestamp == "2024-05-01 10:06:07"
    assert router_alerts(ms_poll(paths, *shell_words(timestamp))) == ([], None)


def test_a2_nothing_newer_and_no_arguments(paths):
    write_log(paths, A2_LOG)
    assert run_compat(paths, "2024-05-01", "10:06:07") == (0, "No Alerts\n", "")
    code, out, err = run_compat(paths)
    assert (code, err) == (0, "")
    assert out.startswith("2024-05-01 10:00:00,100 [ALERT] [sshd] The process")
    assert router_alerts(Answer.of(out, code))[0] == [line for line in A2_LOG.split("\n") if line]


# --- the writer ---

def test_the_written_line_is_the_reference_format_with_a_blank_line(paths):
    writer = AlertWriter(paths, clock=FakeClock("2026-11-20 23:02:32.897451"))
    alert = writer.write("INFO", "dnsmasq", "The process dnsmasq is recovered successfully ")
    assert paths.alert_log.read_text() == (
        "2026-11-20 23:02:32,897 [INFO] [dnsmasq] The process dnsmasq is recovered successfully \n\n")
    assert alert.seq == 1
    assert alert.time.startswith("2026-11-20T23:02:32.897451")


def test_whitespace_and_glob_characters_are_kept_verbatim(paths):
    for name in "INFO":
        (paths.vm_home / name).parent.mkdir(parents=True, exist_ok=True)
        (paths.vm_home / name).touch()  # the files that made the reference's echo expand [INFO]
    writer = AlertWriter(paths, clock=FakeClock("2026-01-01 00:00:00.0"))
    writer.write("INFO", "svc", "two  spaces,   three and a tab\there *")
    assert run_compat(paths, "2025-12-31", "23:59:59") == (
        0, "2026-01-01 00:00:00,000 [INFO] [svc] two  spaces,   three and a tab here *\\n\n", "")


def test_a_message_cannot_split_the_line_or_the_alert(paths):
    writer = AlertWriter(paths, clock=FakeClock("2026-01-01 00:00:00.0"))
    writer.write("ALERT", "svc", "first line\nsecond \\n part")
    alerts, timestamp = router_alerts(ms_poll(paths))
    assert alerts == ["2026-01-01 00:00:00,000 [ALERT] [svc] first line second n part"]


def test_a_doubled_backslash_before_n_cannot_split_the_alert_either(paths):
    """Found by tests/fuzz/test_fuzz_alerts.py: a single replace left a backslash-n behind."""
    writer = AlertWriter(paths, clock=FakeClock("2026-01-01 00:00:00.0"))
    writer.write("ALERT", "svc", "a \\\\n b \\\\\\nn c")
    alerts, timestamp = router_alerts(ms_poll(paths))
    assert alerts == ["2026-01-01 00:00:00,000 [ALERT] [svc] a n b nn c"]


def test_lines_stamped_with_other_digits_are_not_alerts(paths):
    """Found by fuzzing: `\\d` took Arabic-Indic digits, which sort after every real stamp."""
    write_log(paths, "\u0662\u0660\u0662\u0664-05-01 10:03:05,200 [INFO] [a] b\n\n"
                     "2024-05-01 10:03:05,200 [INFO] [a] b\n\n")
    assert run_compat(paths, "\u0662\u0660\u0662\u0664-05-01", "10:00:00") == (
        0, "2024-05-01 10:03:05,200 [INFO] [a] b\\n\n", "")


def test_a_journal_or_polls_file_nested_too_deeply_is_passed_over(paths):
    """Found by fuzzing: json.loads raises RecursionError, which the readers did not expect."""
    writer = AlertWriter(paths, clock=FakeClock("2026-01-01 00:00:00.0"))
    writer.write("INFO", "svc", "one")
    store = AlertStore(paths)
    with open(store.journal, "ab") as journal:
        journal.write(b"[" * 100_000 + b"\n")
    store.polls_file.write_bytes(b"[" * 100_000)
    assert run_compat(paths, "2025-12-31", "23:59:59") == (
        0, "2026-01-01 00:00:00,000 [INFO] [svc] one\\n\n", "")
    assert AlertWriter(paths).write("INFO", "svc", "two").seq == 2


def test_sequence_numbers_continue_across_writers_and_rotations(paths):
    for i in range(30):
        AlertWriter(paths, max_bytes=400, backups=3).write("INFO", "svc", f"alert {i}")
    records = AlertStore(paths).all_records()
    assert [r["seq"] for r in records][-1] == 30
    seqs = [r["seq"] for r in records]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert paths.alert_log.with_name("routerServiceMonitor.log.3").exists()
    assert not paths.alert_log.with_name("routerServiceMonitor.log.4").exists()


def test_rotation_limits_each_file(paths):
    writer = AlertWriter(paths, max_bytes=1000, backups=2)
    for i in range(200):
        writer.write("INFO", "svc", f"alert {i}")
    store = AlertStore(paths)
    for path in store.log_generations() + store.journal_generations():
        assert path.stat().st_size <= 1000


def test_a_gap_left_by_a_rotation_cut_short_hides_no_generation(paths):
    """A writer killed after renaming journal.1 to journal.2 but before the base to .1."""
    writer = AlertWriter(paths, max_bytes=1500, backups=20)
    for i in range(40):
        writer.write("INFO", "svc", f"alert {i}")
    store = AlertStore(paths)
    assert len(store.journal_generations()) >= 3 and len(store.log_generations()) >= 2
    for generations in (store.journal_generations(), store.log_generations()):
        base, rotated = generations[0], generations[1:]
        for n in range(len(rotated), 0, -1):  # the shift, cut short before the base's rename
            base.with_name(f"{base.name}.{n}").rename(base.with_name(f"{base.name}.{n + 1}"))
    for i in range(40, 80):
        writer.write("INFO", "svc", f"alert {i}")
    records = store.all_records()
    assert [r["seq"] for r in records] == list(range(1, 81))
    assert [line.rsplit(" ", 1)[1] for line in legacy_lines(store, "1970-01-01 00:00:00")] == \
        [f"{i}" for i in range(80)]


# --- the feed: losses the reference had ---

def test_same_second_alerts_after_a_poll_are_not_lost(paths):
    clock = FakeClock("2026-03-01 12:00:00.100")
    writer = AlertWriter(paths, clock=clock)
    store = AlertStore(paths)
    writer.write("ALERT", "a", "first")
    alerts, timestamp = router_alerts(Answer.of(answer(poll(store, "1970-01-01 00:00:00"))))
    assert timestamp == "2026-03-01 12:00:00"
    clock.now += 0.5  # same second, after the poll
    writer.write("ALERT", "b", "second")
    alerts, timestamp = router_alerts(Answer.of(answer(poll(store, timestamp))))
    assert alerts == ["2026-03-01 12:00:00,600 [ALERT] [b] second"]
    assert answer(poll(store, timestamp)) == "No Alerts\n"  # and not repeated


def test_alerts_after_a_backward_clock_step_are_not_hidden(paths):
    clock = FakeClock("2026-03-01 12:00:00.000")
    writer = AlertWriter(paths, clock=clock)
    store = AlertStore(paths)
    writer.write("ALERT", "a", "before the step")
    _, timestamp = router_alerts(Answer.of(answer(poll(store, "1970-01-01 00:00:00"))))
    clock.now -= 3600
    writer.write("ALERT", "b", "after the step")
    alerts, new_timestamp = router_alerts(Answer.of(answer(poll(store, timestamp))))
    assert alerts == ["2026-03-01 11:00:00,000 [ALERT] [b] after the step"]
    # The feed by sequence number is in write order whatever the wall clock did.
    assert [a["message"] for a in json_feed(store, after=0)] == ["before the step", "after the step"]


def test_the_clock_stepped_back_between_every_alert_keeps_after_in_order(paths):
    clock = FakeClock("2026-03-01 12:00:00.000")
    writer = AlertWriter(paths, clock=clock)
    for i in range(10):
        writer.write("INFO", "svc", f"alert {i}")
        clock.now -= 3600
    feed = json_feed(AlertStore(paths), after=3)
    assert [a["seq"] for a in feed] == list(range(4, 11))
    assert [a["message"] for a in feed] == [f"alert {i}" for i in range(3, 10)]


def test_alerts_rotated_into_older_files_and_gz_are_read(paths):
    write_log(paths, "2024-05-01 09:00:00,000 [INFO] [a] oldest\n\n", "routerServiceMonitor.log.2.gz")
    gz = paths.alert_log.with_name("routerServiceMonitor.log.2.gz")
    gz.write_bytes(gzip.compress(b"2024-05-01 09:00:00,000 [INFO] [a] oldest\n\n"))
    write_log(paths, "2024-05-01 09:30:00,000 [INFO] [b] older\n\n", "routerServiceMonitor.log.1")
    write_log(paths, "2024-05-01 10:00:00,000 [INFO] [c] newest\n\n")
    lines = legacy_lines(AlertStore(paths), "2024-05-01 08:00:00")
    assert [line.rsplit(" ", 1)[1] for line in lines] == ["oldest", "older", "newest"]


def test_malformed_binary_and_truncated_lines_are_skipped_not_the_end(paths):
    write_log(paths, b"2024-05-01 10:00:00,000 [INFO] [a] one\n\n"
                     b"\xff\xfe binary \x00 junk\n\nnot a log line\n"
                     b"2024-05-01 10:00:01,000 [INFO] [b] two\n\n"
                     b"2024-05-01 10:00:0")
    assert run_compat(paths, "2024-05-01", "09:00:00") == (
        0, "2024-05-01 10:00:00,000 [INFO] [a] one\\n2024-05-01 10:00:01,000 [INFO] [b] two\\n\n", "")


# Lines another writer left (contract 2.5: forward what the reference forwarded and the MS reads).
FOREIGN_LOG = (b"2024-05-01 10:00:00,100 [ALERT] [sshd] The process detected as running\n\n"
               b"2024-05-01 10:03:05 [INFO] [dnsmasq] no milliseconds, then a comma\n\n"
               b"2024-05-01 10:06:07,300 [ALERT] [caf\xe9] latin-1 \xff and \xc3( bytes\n\n")
FOREIGN_ANSWER = (b"2024-05-01 10:03:05 [INFO] [dnsmasq] no milliseconds, then a comma\\n"
                  b"2024-05-01 10:06:07,300 [ALERT] [caf\xe9] latin-1 \xff and \xc3( bytes\\n\n")


def test_lines_without_milliseconds_or_with_bytes_not_utf8_are_forwarded_byte_for_byte(paths):
    write_log(paths, FOREIGN_LOG)
    assert run_compat_bytes(paths, "2024-05-01", "10:00:00") == (0, FOREIGN_ANSWER, b"")
    alerts, timestamp = router_alerts(ms_poll(paths, "2024-05-01", "10:00:00"))
    assert alerts == ["2024-05-01 10:03:05 [INFO] [dnsmasq] no milliseconds, then a comma",
                      "2024-05-01 10:06:07,300 [ALERT] [caf\ufffd] latin-1 \ufffd and \ufffd( bytes"]
    assert timestamp == "2024-05-01 10:06:07"
    # The next poll, with the timestamp the MS keeps: nothing is sent twice.
    assert run_compat_bytes(paths, *shell_words(timestamp)) == (0, b"No Alerts\n", b"")


def test_a_newest_line_without_milliseconds_comes_back_whole_and_ends_the_next_poll(paths):
    """With no comma before it, the MS keeps (and sends back) the whole line: the shell splits
    it, and the date and time are the first two words."""
    write_log(paths, FOREIGN_LOG[:FOREIGN_LOG.index(b"2024-05-01 10:06:07")])
    assert run_compat_bytes(paths, "2024-05-01", "10:00:00") == (
        0, b"2024-05-01 10:03:05 [INFO] [dnsmasq] no milliseconds, then a comma\\n\n", b"")
    alerts, timestamp = router_alerts(ms_poll(paths, "2024-05-01", "10:00:00"))
    assert timestamp == "2024-05-01 10:03:05 [INFO] [dnsmasq] no milliseconds"
    assert shell_words(timestamp) == ["2024-05-01", "10:03:05", "[INFO]", "[dnsmasq]", "no",
                                      "milliseconds"]
    assert router_alerts(ms_poll(paths, *shell_words(timestamp))) == ([], None)
    assert run_compat_bytes(paths, *shell_words(timestamp)) == (0, b"No Alerts\n", b"")
    # A later alert (vrmonitor's own) after it is answered, and only it.
    AlertWriter(paths, clock=FakeClock("2024-05-01 10:04:00.5")).write("INFO", "svc", "later")
    assert router_alerts(ms_poll(paths, *shell_words(timestamp)))[0] == [
        "2024-05-01 10:04:00,500 [INFO] [svc] later"]


@pytest.mark.parametrize("skipped", [
    b"no stamp at all",
    b"[INFO] [dnsmasq] a message without its stamp",
    b"2024-05-01 10:02 [INFO] [x] a stamp without seconds",
    b"2024-05-01 10:02:,000 [INFO] [x] seconds missing after the colon",
    b"2024-02-30 10:02:00,000 [INFO] [x] a date the calendar does not have",
    b"2023-02-29 10:02:00 [INFO] [x] no leap day that year",
    b"2024-05-01 25:00:00,000 [INFO] [x] hour 25",
    b"2024-05-01 10:60:00,000 [INFO] [x] minute 60",
    b"2024-05-01 10:02:60,000 [INFO] [x] second 60",
    b"2024-13-01 10:02:00,000 [INFO] [x] month 13",
    b"0000-05-01 10:02:00,000 [INFO] [x] year 0",
    b"2024-05-01 10:02:001 [INFO] [x] a third digit of seconds",
    b"2024-05-01\t10:02:00,000 [INFO] [x] a tab where the MS wants a space",
    b"\xff2024-05-01 10:02:00,000 [INFO] [x] a byte before the stamp",
    # The MS sends the text up to the first comma back through the router's shell: it would
    # run these, or fail every later poll on an unclosed quote.
    b"2024-05-01 10:02:00;reboot [INFO] [x] a command after the seconds",
    b"2024-05-01 10:02:00 [ALERT] [x] no milliseconds and $(id) before any comma",
    b"2024-05-01 10:02:00 [ALERT] [x] it's down, says an older monitor",
    b"2024-05-01 10:02:00 [ALERT] [x] `uname` > /tmp/x",
    b"2024-05-01 10:02:00 [ALERT] [x] a | b & c",
])
def test_lines_that_are_not_alerts_are_skipped_and_do_not_end_the_scan(paths, skipped):
    """Each would make the MS drop the batch were it the newest; older alerts still come."""
    write_log(paths, b"2024-05-01 10:00:00,000 [INFO] [a] at the threshold\n\n"
                     b"2024-05-01 10:01:00,000 [INFO] [b] older than the skipped line\n\n"
                     + skipped + b"\n\n"
                     b"2024-05-01 10:03:00 [INFO] [c] newer than it\n\n" + skipped + b"\n\n")
    expected = (b"2024-05-01 10:01:00,000 [INFO] [b] older than the skipped line\\n"
                b"2024-05-01 10:03:00 [INFO] [c] newer than it\\n\n")
    assert run_compat_bytes(paths, "2024-05-01", "10:00:00") == (0, expected, b"")
    alerts, timestamp = router_alerts(ms_poll(paths, "2024-05-01", "10:00:00"))
    assert len(alerts) == 2 and timestamp == "2024-05-01 10:03:00 [INFO] [c] newer than it"
    assert run_compat_bytes(paths, *shell_words(timestamp)) == (0, b"No Alerts\n", b"")


def test_a_line_stamped_before_the_year_1000_does_not_hide_later_alerts(paths):
    """The MS reads year 999 (SimpleDateFormat takes any year from 1) and sends it back; it
    gets such a line from a poll without a timestamp (all alerts)."""
    write_log(paths, b"0999-05-01 10:00:00,000 [INFO] [b] from a clock gone wrong\n\n")
    alerts, timestamp = router_alerts(ms_poll(paths))
    assert timestamp == "0999-05-01 10:00:00"
    AlertWriter(paths, clock=FakeClock("2026-01-01 00:00:00.0")).write("ALERT", "c", "later")
    assert router_alerts(ms_poll(paths, *shell_words(timestamp)))[0] == [
        "2026-01-01 00:00:00,000 [ALERT] [c] later"]


@pytest.mark.parametrize("zone, may, january", [
    ("Europe/Berlin", "+02:00", "+01:00"),  # the offset of the stamp's own date, DST or not
    ("XST-5:30", "+05:30", "+05:30"),  # POSIX: the sign is the other way round
    ("XST+5", "-05:00", "-05:00"),
])
def test_json_time_of_a_foreign_line_is_its_stamp_in_the_vms_zone(paths, zone, may, january):
    if "/" in zone and not Path("/usr/share/zoneinfo", zone).exists():
        pytest.fail(f"tzdata is needed for TZ={zone}")
    write_log(paths, b"2024-01-15 08:00:00,007 [INFO] [ntpd] winter\n\n"
                     b"2024-05-01 10:03:05,200 [INFO] [dnsmasq] The process dnsmasq is recovered "
                     b"successfully \n\n"
                     b"2024-05-01 10:06:07 [ALERT] [caf\xe9] no milliseconds \xff\n\n")
    done = subprocess.run([sys.executable, "-m", "vrmonitor", "--root", str(paths.root), "alerts",
                           "--format", "json"], capture_output=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "TZ": zone,
                               "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    assert (done.returncode, done.stderr) == (0, b"")
    feed = [json.loads(line) for line in done.stdout.decode().splitlines()]
    assert feed == [
        {"seq": None, "time": f"2024-01-15T08:00:00.007000{january}", "boot_id": None,
         "severity": "INFO", "name": "ntpd", "message": "winter",
         "line": "2024-01-15 08:00:00,007 [INFO] [ntpd] winter"},
        {"seq": None, "time": f"2024-05-01T10:03:05.200000{may}", "boot_id": None,
         "severity": "INFO", "name": "dnsmasq",
         "message": "The process dnsmasq is recovered successfully ",
         "line": "2024-05-01 10:03:05,200 [INFO] [dnsmasq] The process dnsmasq is recovered "
                 "successfully "},
        {"seq": None, "time": f"2024-05-01T10:06:07.000000{may}", "boot_id": None,
         "severity": "ALERT", "name": "caf\ufffd", "message": "no milliseconds \ufffd",
         "line": "2024-05-01 10:06:07 [ALERT] [caf\ufffd] no milliseconds \ufffd"}]


def monitor_log_lines(paths: Paths) -> list[str]:
    return paths.monitor_log.read_text().splitlines() if paths.monitor_log.exists() else []


@pytest.mark.parametrize("args, warning", [
    (("2024-13-45", "99:99:99"),
     "WARNING: '2024-13-45' '99:99:99' is not a 'YYYY-MM-DD HH:MM:SS' time; answering with all alerts"),
    (("2024-05-01",),
     "WARNING: expected DATE TIME, got one argument ('2024-05-01'); answering with all alerts"),
])
def test_a_bad_timestamp_means_all_alerts_and_a_warning_in_the_log_not_on_stderr(paths, args,
                                                                                   warning):
    """stderr is merged into what the MS parses: a warning there would drop the batch."""
    write_log(paths, A2_LOG)  # makes <root>/var/log, where the log goes
    code, out, err = run_compat(paths, *args)
    assert (code, err) == (0, "")
    assert router_alerts(Answer.of(out, code))[0] == [line for line in A2_LOG.split("\n") if line]
    logged = monitor_log_lines(paths)
    assert len(logged) == 1 and logged[0].endswith(warning), logged
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} getRouterAlerts\.sh\[\d+\]: ",
                        logged[0][:-len(warning)]), logged
    alerts, _ = router_alerts(ms_poll(paths, *args))  # merged: the same answer
    assert len(alerts) == 3 and len(monitor_log_lines(paths)) == 2


def test_without_var_log_a_warning_is_dropped_silently(paths):
    """vrmonitor/compat/entry.py: the log is written only if <root>/var/log exists."""
    install(paths)
    assert not paths.monitor_log.parent.exists()
    assert run_compat(paths, "yesterday", "noon") == (0, "No Alerts\n", "")
    assert not paths.monitor_log.parent.exists()


def test_shell_characters_after_the_first_comma_are_an_alert_like_any_other(paths):
    """Only the text before the first comma goes back through the shell: a message after the
    milliseconds may hold anything (vrmonitor's own lines always have them)."""
    line = b"2024-05-01 10:02:00,000 [ALERT] [x] it's $(id); `a` | b > c"
    write_log(paths, line + b"\n\n")
    assert run_compat_bytes(paths, "2024-05-01", "10:00:00") == (0, line + b"\\n\n", b"")
    alerts, timestamp = router_alerts(ms_poll(paths, "2024-05-01", "10:00:00"))
    assert (alerts, timestamp) == ([line.decode()], "2024-05-01 10:02:00")


def test_json_feed_lists_foreign_lines_with_null_seq_and_after_skips_them(paths, capsys):
    write_log(paths, "2024-05-01 10:00:00,100 [ALERT] [sshd] from an older monitor\n\n")
    AlertWriter(paths).write("INFO", "vr", "from vrmonitor")
    assert main(["--root", str(paths.root), "alerts", "--format", "json"]) == 0
    feed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(a["seq"], a["message"]) for a in feed] == [(None, "from an older monitor"),
                                                         (1, "from vrmonitor")]
    assert feed[0]["time"] == datetime(2024, 5, 1, 10, 0, 0, 100000).astimezone().isoformat()
    assert feed[1]["line"].endswith("[INFO] [vr] from vrmonitor")
    assert set(feed[1]) >= {"seq", "time", "severity", "name", "message", "line"}
    assert main(["--root", str(paths.root), "alerts", "--format", "json", "--after", "0"]) == 0
    assert [json.loads(line)["seq"] for line in capsys.readouterr().out.splitlines()] == [1]


def test_alerts_cloudstack_format_matches_the_entry_point_without_recording(paths, capsys):
    write_log(paths, A2_LOG)
    assert main(["--root", str(paths.root), "alerts", "--since", "2024-05-01 10:00:00"]) == 0
    assert capsys.readouterr().out == A2_ANSWER
    assert not AlertStore(paths).polls_file.exists()


def test_alerts_with_a_bad_since_is_a_usage_error(paths, capsys):
    assert main(["--root", str(paths.root), "alerts", "--since", "yesterday"]) == 2
    assert "--since 'yesterday' is not 'YYYY-MM-DD HH:MM:SS'" in capsys.readouterr().err


def test_raise_alert_writes_through_the_writer(paths, capsys):
    assert main(["--root", str(paths.root), "raise-alert", "--severity", "INFO", "ops", "disk swap"]) == 0
    assert capsys.readouterr().out == ""
    text = paths.alert_log.read_text()
    assert text.endswith(" [INFO] [ops] disk swap\n\n")
    assert AlertStore(paths).last_record()["seq"] == 1


def test_logrotate_copytruncate_does_not_break_the_writer(paths):
    writer = AlertWriter(paths)
    writer.write("INFO", "a", "before")
    # What logrotate copytruncate does: copy, then truncate in place.
    copy = paths.alert_log.with_name("routerServiceMonitor.log.1")
    copy.write_bytes(paths.alert_log.read_bytes())
    with open(paths.alert_log, "r+b") as handle:
        handle.truncate(0)
    writer.write("INFO", "b", "after")
    assert paths.alert_log.read_text().endswith("[INFO] [b] after\n\n")
    assert paths.alert_log.read_text().count("\n") == 2
    assert [a["message"] for a in json_feed(AlertStore(paths), after=0)] == ["before", "after"]


def test_an_internal_error_in_an_entry_point_is_one_line_on_stderr_and_nothing_on_stdout(paths):
    # The journal folder is a file: the store cannot take its lock.
    paths.state_dir.mkdir(parents=True)
    (paths.state_dir / "alerts").write_text("not a folder")
    write_log(paths, A2_LOG)
    code, out, err = run_compat(paths, "2024-05-01", "10:00:00")
    assert code == 1 and out == ""
    assert err.startswith("getRouterAlerts.sh: ") and err.count("\n") == 1
    assert "Traceback" not in err
    with pytest.raises(Dropped, match=r"the call failed \(exit 1\)"):
        router_alerts(ms_poll(paths, "2024-05-01", "10:00:00"))


def test_a_poll_with_an_unknown_timestamp_does_not_take_same_second_alerts_from_the_ms(paths):
    """Regression (issue 9 load test): a first poll or a manual call answered in the second the
    management server holds moved that second's record on, and the MS never got the alerts
    written in that second after its own poll."""
    clock = FakeClock("2026-03-01 12:00:00.100")
    writer = AlertWriter(paths, clock=clock)
    store = AlertStore(paths)
    writer.write("ALERT", "a", "first")
    _, ms_timestamp = router_alerts(Answer.of(answer(poll(store, "1970-01-01 00:00:00"))))
    clock.now += 0.5  # same second, after the MS's poll
    writer.write("ALERT", "b", "second")
    for other in ("1970-01-01 00:00:00", None, "2026-03-01 11:59:59"):  # first poll, no args, unknown
        assert router_alerts(Answer.of(answer(poll(store, other))))[0][-1].endswith("[b] second")
    alerts, _ = router_alerts(Answer.of(answer(poll(store, ms_timestamp))))
    assert alerts == ["2026-03-01 12:00:00,600 [ALERT] [b] second"]
    assert answer(poll(store, ms_timestamp)) == "No Alerts\n"


# A disk that refuses writes, for real: the file size limit (RLIMIT_FSIZE) makes write() fail
# part-way with EFBIG, as a full disk does with ENOSPC. Run in a child: the limit is per process.
REFUSING_DISK = """
import json, resource, signal, sys, time
from vrmonitor.alerts.held import HeldAlerts
from vrmonitor.alerts.writer import AlertWriter
from vrmonitor.paths import Paths
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
writer = AlertWriter(Paths.from_option(sys.argv[1]))
writer.write("INFO", "before", "written before the disk filled")
journal = writer.store.journal
resource.setrlimit(resource.RLIMIT_FSIZE, (journal.stat().st_size + 40, resource.RLIM_INFINITY))
try:
    writer.write("ALERT", "torn", "a record longer than the room left on the disk")
except OSError as exc:
    print("refused", exc.errno, exc.filename)
held = HeldAlerts(writer)
for n in range(3):
    held.write("ALERT", "dnsmasq", f"held {n}")
print("held", len(held), held.flush())
time.sleep(1.1)  # the held alerts keep their own second
resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
print("flushed", held.flush(), len(held))
held.write("INFO", "after", "written after")
"""


def test_a_refused_append_leaves_no_torn_line_and_held_alerts_arrive_in_order(tmp_path):
    child = subprocess.run([sys.executable, "-c", REFUSING_DISK,
                            str(tmp_path)], capture_output=True, text=True, check=True,
                           cwd=Path(__file__).resolve().parents[2])
    journal = tmp_path / "var/lib/vrmonitor/alerts/journal.jsonl"
    assert child.stdout.splitlines() == [f"refused 27 {journal}", "held 3 False", "flushed True 0"]
    raw = journal.read_bytes().split(b"\n")
    records = [json.loads(line) for line in raw if line]  # every line whole: the torn one was cut
    assert [(r["seq"], r["name"], r["message"]) for r in records] == [
        (1, "before", "written before the disk filled"), (2, "dnsmasq", "held 0"),
        (3, "dnsmasq", "held 1"), (4, "dnsmasq", "held 2"), (5, "after", "written after")]
    # Held alerts carry the second they happened in, not the second they were written.
    assert records[2]["time"][:19] < records[4]["time"][:19]
    lines = [line for line in (tmp_path / "var/log/routerServiceMonitor.log").read_text().split("\n") if line]
    assert lines == [r["line"] for r in records]


class _Disk:
    """An AlertWriter stand-in whose disk refuses until `full` is cleared."""

    def __init__(self):
        self.full = True
        self.written = []

    def write(self, severity, name, message, when):
        if self.full:
            raise OSError(28, "No space left on device")
        self.written.append((when, name, message))


def test_held_alerts_make_the_loop_wake_for_their_retry_and_only_then():
    from vrmonitor.alerts.held import RETRY_AFTER, HeldAlerts

    now = [100.0]
    disk = _Disk()
    held = HeldAlerts(disk, wall=lambda: 1_700_000_000.0 + now[0], monotonic=lambda: now[0])
    assert held.next_due() == math.inf  # nothing held: no reason to wake
    held.write("ALERT", "dnsmasq", "refused")
    assert held.next_due() == 100.0 + RETRY_AFTER  # the loop wakes for the retry on its own
    now[0] = 100.5
    held.write("ALERT", "haproxy", "within the retry's wait")  # not tried: held behind the first
    held.tick(now[0])
    assert disk.written == [] and len(held) == 2 and held.next_due() == 100.0 + RETRY_AFTER
    disk.full = False
    now[0] = 100.0 + RETRY_AFTER
    held.tick(now[0])
    assert disk.written == [(1_700_000_100.0, "dnsmasq", "refused"),
                            (1_700_000_100.5, "haproxy", "within the retry's wait")]
    assert held.next_due() == math.inf


@pytest.mark.parametrize("year", [1, 4, 999, 1900, 2000, 2023, 2024, 2100, 9999])
def test_a_stamp_is_an_alert_exactly_when_the_calendar_has_its_date_and_time(year):
    from vrmonitor.cloudstack.alert_line import parse_line

    for month in range(0, 14):
        for day in (0, 1, 28, 29, 30, 31, 32):
            for clock in ((0, 0, 0), (23, 59, 59), (24, 0, 0), (0, 60, 0), (0, 0, 60)):
                line = f"{year:04d}-{month:02d}-{day:02d} {clock[0]:02d}:{clock[1]:02d}:{clock[2]:02d},000 [INFO] [x] y"
                try:
                    real = datetime(year, month, day, *clock).strftime("%Y-%m-%d %H:%M:%S")
                except ValueError:
                    real = None
                parsed = parse_line(line)
                assert (parsed and parsed.second) == (real and line[:19]), line


def test_year_zero_and_unpadded_fields_are_read_as_the_server_reads_them():
    from vrmonitor.cloudstack.alert_line import parse_line

    assert parse_line("0000-01-01 00:00:00,000 [INFO] [x] y") is None
    assert parse_line("2026-3-7 4:05:6,000 [INFO] [x] y").second == "2026-03-07 04:05:06"


def test_control_characters_become_spaces_and_no_backslash_n_survives():
    from vrmonitor.cloudstack.alert_line import clean_text

    controls = "".join(map(chr, range(32))) + "\x7f"
    assert clean_text(f"a{controls}b\x80\udc80é") == "a" + " " * 33 + "b\x80\udc80é"
    assert clean_text("x\\\\nn y\\n") == "xnn yn"
