"""Alert lines read back: /var/log/routerServiceMonitor.log, the journal and polls.json beside it,
and getRouterAlerts.sh's timestamp arguments.

Through the functions getRouterAlerts.sh and `vrmonitor alerts` use (parse_threshold, poll,
json_feed) and the writer's formatter. A line written by the formatter reads back as written;
whatever the files hold, the answer is well-formed for the management server's parser: every
alert starts with a timestamp SimpleDateFormat takes, and the last line written is last.
"""

import json
from datetime import datetime

import pytest
from hypothesis import example, given, strategies as st

from tests.fuzz.hang_guard import no_hang
from tests.fuzz.mutations import TEXT_CHARACTERS, json_values, mutated
from tests.ms_parsers import router_alerts
from vrmonitor.alerts.feed import json_feed, poll
from vrmonitor.alerts.store import AlertStore
from vrmonitor.cloudstack.alert_line import (SEPARATOR, SEVERITIES, answer, clean_text,
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
    assert router_alerts(answer([line])) == ([line], parsed.second)


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
    """A log as the writer leaves it (line + empty line), in time order, from the formatter."""
    times = sorted(draw(st.lists(TIMES, max_size=6)))
    lines = [format_line(when, draw(st.sampled_from(SEVERITIES)), draw(NAMES), draw(MESSAGES))
             for when in times]
    return "".join(f"{line}\n\n" for line in lines).encode()


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
    alerts, newest = router_alerts(answer(lines))
    assert alerts == [clean_text(line) for line in lines]
    assert newest == (parse_line(lines[-1]).second if lines else None)
    assert all(parse_line(line).second.isascii() for line in lines)
    assert all(isinstance(entry["line"], str) for entry in feed)
