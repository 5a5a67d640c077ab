"""Alert lines read back: /var/log/routerServiceMonitor.log, the journal and polls.json beside it,
and getRouterAlerts.sh's timestamp arguments.

Through the functions getRouterAlerts.sh and `vrmonitor alerts` use (parse_threshold, poll,
json_feed) and the writer's formatter. A line written by the formatter reads back as written;
whatever the files hold, the answer is well-formed for the management server's parser (as the
agent hands it on: tests/ms_parsers.Answer): every alert starts with a timestamp
SimpleDateFormat takes, and the last line written is last. Whatever line is the newest, the
timestamp the server sends back names the same second to getRouterAlerts.sh.
"""

import json
import re
from datetime import datetime

import pytest
from hypothesis import example, given, strategies as st

from tests.fuzz.hang_guard import no_hang
from tests.fuzz.mutations import TEXT_CHARACTERS, json_values, mutated
from tests.ms_parsers import Answer, router_alerts, simple_date_format
from vrmonitor.alerts.feed import json_feed, poll
from vrmonitor.alerts.store import AlertStore
from vrmonitor.cloudstack.alert_line import (SEPARATOR, SEVERITIES, SHELL_SPECIAL, answer, clean_text,
                                             format_line, parse_line, parse_threshold)
from vrmonitor.paths import Paths

pytestmark = [pytest.mark.fuzz]

TIMES = st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(9999, 12, 30))
NAMES = st.sampled_from(("dnsmasq", "The process haproxy recover failed ")) | st.text(TEXT_CHARACTERS)
MESSAGES = (st.sampled_from(("The process dnsmasq is recovered successfully ", "a\\nb", "\\\\n",
                             "x\\", "] [", "", " lead")) | st.text(TEXT_CHARACTERS))
THRESHOLD_PARTS = st.sampled_from(("2024-05-01", "10:03:05", "1970-01-01", "00:00:00",
                                   "2024-02-30", "24:00:00", "2024-5-1", "", " ", "\u0662\u0660\u0662\u0664-05-01",
                                   "9999-12-31", "23:59:60")) | st.text(TEXT_CHARACTERS, max_size=20)


@given(TIMES, st.sampled_from(SEVERITIES), NAMES, MESSAGES)
@example(datetime(2024, 5, 1, 10, 3, 5), "INFO", "dnsmasq", "\\\\n")
def test_a_written_line_reads_back(when, severity, name, message):
    line = format_line(when, severity, name, message)
    assert "\n" not in line and SEPARATOR not in line
    parsed = parse_line(line)
    assert parsed.second == f"{when:%Y-%m-%d %H:%M:%S}"
    assert parsed.severity == severity
    if "]" not in name:  # `]` in a name is ambiguous in the legacy format itself
        assert (parsed.name, parsed.message) == (clean_text(name), clean_text(message))
    assert router_alerts(Answer.of(answer([line]))) == ([line], parsed.second)


@given(st.text(TEXT_CHARACTERS))
@example("\\\\n")
@example("\\\\\\nn")
def test_clean_text_leaves_no_separator(text):
    assert SEPARATOR not in clean_text(text)


@given(st.lists(THRESHOLD_PARTS, max_size=3))
@example(["\u0662\u0660\u0662\u0664-\u0660\u0665-\u0660\u0661", "10:00:00"])
def test_threshold_is_what_the_management_server_sends_or_none(args):
    with no_hang(5, "parse_threshold"):
        threshold = parse_threshold(*args[:2]) if len(args) >= 2 else None
    if threshold is not None:
        assert threshold.isascii()
        assert datetime.strptime(threshold, "%Y-%m-%d %H:%M:%S").strftime(
            "%Y-%m-%d %H:%M:%S") == threshold


@st.composite
def logs(draw):
    """A log as the writer leaves it (line + empty line), in time order, from the formatter;
    some lines as other writers leave them: without `,mmm`, or with bytes that are not UTF-8."""
    times = sorted(draw(st.lists(TIMES, max_size=6)))
    log = b""
    for when in times:
        line = format_line(when, draw(st.sampled_from(SEVERITIES)), draw(NAMES),
                           draw(MESSAGES)).encode()
        if draw(st.integers(0, 3)) == 0:
            line = line[:19] + line[23:]  # no milliseconds
        if draw(st.integers(0, 3)) == 0:
            line += draw(st.sampled_from((b" \xff", b"\xc3(", b" caf\xe9", b"\xed\xa0\x80")))
        log += line + b"\n\n"
    return log


@st.composite
def journals(draw):
    records = [draw(st.fixed_dictionaries({"seq": st.integers(-2, 10) | json_values(),
                                           "line": st.just(format_line(draw(TIMES), "INFO", "n", "m"))
                                           | json_values()}))
               for _ in range(draw(st.integers(0, 4)))]
    return "".join(json.dumps(record) + "\n" for record in records).encode()


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    paths = Paths(tmp_path_factory.mktemp("alerts"))
    store = AlertStore(paths)
    store.log.parent.mkdir(parents=True)
    store.folder.mkdir(parents=True)
    return store


@given(log=mutated(logs()), rotated=st.none() | mutated(logs()), journal=mutated(journals()),
       polls=st.binary(max_size=40) | st.builds(lambda value: json.dumps(value).encode(), json_values()),
       args=st.lists(THRESHOLD_PARTS, max_size=2), after=st.none() | st.integers(-1, 12))
@example(log=b"2024-05-01 10:03:05,200 [INFO] [a] b\n\n", rotated=None, journal=b"[" * 100_000 + b"\n",
         polls=b"{}", args=["2024-05-01", "10:00:00"], after=None)
@example(log=b"\xd9\xa2\xd9\xa0\xd9\xa2\xd9\xa4-05-01 10:03:05,200 [INFO] [a] b\n\n", rotated=None,
         journal=b"", polls=b"{}", args=["2024-05-01", "10:00:00"], after=None)
def test_any_log_gives_an_answer_the_management_server_parses(store, log, rotated, journal, polls,
                                                               args, after):
    store.log.write_bytes(log)
    rotated_path = store.log.with_name(store.log.name + ".1")
    rotated_path.unlink(missing_ok=True)
    if rotated is not None:
        rotated_path.write_bytes(rotated)
    store.journal.write_bytes(journal)
    store.polls_file.write_bytes(polls)
    threshold = parse_threshold(*args) if len(args) == 2 else None
    with no_hang(10, "poll"):
        lines = poll(store, threshold)
        feed = json_feed(store, after=after)
    # In file order, oldest first; the stamps need not be (the clock may have stepped back).
    alerts, newest = router_alerts(as_answered(lines))
    assert alerts == [as_java_reads(clean_text(line)) for line in lines]
    if lines:
        assert parse_threshold(*shell_words(newest)[:2]) == parse_line(lines[-1]).second
    else:
        assert newest is None
    assert all(parse_line(line).second.isascii() for line in lines)
    for entry in feed:  # `vrmonitor alerts --format json` prints each as UTF-8
        assert isinstance(entry["line"], str)
        json.dumps(entry, ensure_ascii=False).encode("utf-8")


def as_answered(lines: list[str]) -> Answer:
    """getRouterAlerts.sh's bytes for these lines (bytes that were not UTF-8 given back as read),
    as the agent hands them on."""
    return Answer.of(answer(lines).encode("utf-8", "surrogateescape"))


def as_java_reads(text: str) -> str:
    """A line read with surrogateescape, as the server's UTF-8 decoding shows it."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def shell_words(timestamp: str) -> list[str]:
    """The server's timestamp as the VM's login shell splits it (default IFS)."""
    return [word for word in re.split(r"[ \t\n]+", timestamp) if word]


BLANKS = st.text(st.sampled_from(" \t"), max_size=2)
# What may follow the seconds: anything but another digit (of any script), and, up to the first
# comma, nothing the router's shell would interpret (alert_line.SHELL_SPECIAL).
AFTER_SECONDS = (st.sampled_from((
    "", ",200 [INFO] [dnsmasq] x", " [ALERT] [a] b", "x", ",", ",5", ",12345", ", [a]", ",;(",
    " 7", "\t9", ":", ",\\n", " \udcff", "\udcc3[", " caf\udce9 ,1", "Z", "\u00a0",
)) | st.text(TEXT_CHARACTERS, max_size=12)).filter(
    lambda text: not text[:1].isdecimal() and not SHELL_SPECIAL.search(text.split(",", 1)[0]))

STAMP_TIMES = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59))


@st.composite
def stamped_lines(draw, times=STAMP_TIMES):
    """(a line that starts with a real date and time, in any form alert_line.STAMP takes, and
    that time as `YYYY-MM-DD HH:MM:SS`)."""
    when = draw(times)

    def number(value: int) -> str:
        return str(value) if value < 10 and draw(st.booleans()) else f"{value:02d}"

    date = f"{when.year:04d}-{number(when.month)}-{number(when.day)}"
    time = f"{number(when.hour)}:{number(when.minute)}:{number(when.second)}"
    second = (f"{when.year:04d}-{when.month:02d}-{when.day:02d} "
              f"{when.hour:02d}:{when.minute:02d}:{when.second:02d}")
    return draw(BLANKS) + date + " " + draw(BLANKS) + time + draw(AFTER_SECONDS), second


@given(stamped_lines(), st.lists(st.builds(format_line, TIMES, st.sampled_from(SEVERITIES), NAMES,
                                           MESSAGES), max_size=2))
@example(("2024-05-01 10:03:05 [INFO] [dnsmasq] no milliseconds", "2024-05-01 10:03:05"), [])
@example(("2024-5-1 1:2:3,004 [INFO] [a] b", "2024-05-01 01:02:03"), [])
@example(("2024-05-01 \t10:03:05x", "2024-05-01 10:03:05"), ["2024-05-01 10:00:00,000 [INFO] [a] b"])
@example((" 2024-05-01 10:03:05", "2024-05-01 10:03:05"), ["2024-05-01 10:00:00,000 [INFO] [a] b"])
@example(("2024-05-01 10:03:05\u00a0[INFO] [a] b", "2024-05-01 10:03:05"), [])
def test_the_timestamp_the_ms_sends_back_names_the_newest_lines_second(stamped, older):
    """The MS keeps the newest line up to its first comma and sends it back; the VM's shell
    splits it and getRouterAlerts.sh reads its first two words. Were that another second, the
    next poll would send alerts twice or miss some."""
    line, second = stamped
    parsed = parse_line(line)
    assert parsed is not None and parsed.second == second  # zero-padded: sorts as times do
    alerts, timestamp = router_alerts(as_answered([*older, line]))
    newest = as_java_reads(clean_text(line))
    assert alerts[-1] == (newest if older else newest.lstrip(" "))  # String.trim() on the whole
    assert timestamp == alerts[-1].split(",")[0]
    assert simple_date_format(timestamp) is not None
    assert parse_threshold(*shell_words(timestamp)[:2]) == parsed.second


@pytest.mark.parametrize("line", ["2024-05-01 10:03:59\u0669 [INFO] [a] b",
                                  "2024-05-01 10:03:5\uff19\uff19 [INFO] [a] b"])
def test_a_digit_of_another_script_after_the_seconds_is_not_an_alert(line):
    parsed = parse_line(line)
    if parsed is not None:
        router_alerts(as_answered([line]))  # raises Dropped (an AssertionError) today
    assert parsed is None


@given(stamped_lines(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(999, 12, 31))))
@example(("0999-05-01 10:00:00,000 [INFO] [b] year 999", "0999-05-01 10:00:00"))
def test_a_stamp_before_the_year_1000_reads_back_zero_padded(stamped):
    line, second = stamped
    parsed = parse_line(line)
    assert parsed.second == second
    assert parsed.local_time().startswith(second.replace(" ", "T"))
