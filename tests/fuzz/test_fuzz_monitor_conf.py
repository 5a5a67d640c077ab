"""/etc/monitor.conf (contract 2.1) through load_monitor_conf, the daemon's and monitorServices.py's reader.

Documents are written the way CloudStack's CsMonitor writes them, then damaged. Every input
gives services and problems, or a ConfigError naming the file; never another exception.
"""

import pytest
from hypothesis import given, strategies as st

from tests.fuzz.hang_guard import no_hang
from tests.fuzz.mutations import mutated
from vrmonitor.cloudstack.monitor_conf import CONTRACT_PATH, ServiceEntry, load_monitor_conf
from vrmonitor.errors import ConfigError

pytestmark = [pytest.mark.fuzz]

NAMES = st.from_regex(r"[A-Za-z0-9_.\-]{1,12}", fullmatch=True)
VALUES = st.from_regex(r"[!-~]([ -~]{0,30}[!-~])?", fullmatch=True)


@st.composite
def services(draw):
    sections = draw(st.lists(NAMES, unique=True, max_size=5))
    return [ServiceEntry(name, draw(VALUES), draw(VALUES), draw(VALUES)) for name in sections]


def key(draw, name: str) -> str:
    """A key in any case, as the reader accepts."""
    return "".join(draw(st.sampled_from((ch.lower(), ch.upper()))) for ch in name)


@st.composite
def written(draw, entries):
    """monitor.conf text for the entries, with CsMonitor's layout or a hand edit's."""
    lines = []
    for entry in entries:
        lines.append(f"[{entry.section}]")
        for name in draw(st.permutations(("processname", "servicename", "pidfile"))):
            separator = draw(st.sampled_from(("=", ":", " = ")))
            lines.append(f"{key(draw, name)}{separator}{getattr(entry, name)}")
        if draw(st.booleans()):
            lines.append(draw(st.sampled_from(("", "# comment", "; comment", "  "))))
    return "\n".join(lines) + draw(st.sampled_from(("\n", "", "\r\n")))


@st.composite
def documents(draw):
    return draw(written(draw(services()))).encode()


def load(tmp_path_factory, data: bytes):
    path = tmp_path_factory.getbasetemp() / "monitor.conf"
    path.write_bytes(data)
    with no_hang(10, "load_monitor_conf"):
        return load_monitor_conf(path)


@given(entries=services(), data=st.data())
def test_what_csmonitor_writes_reads_back(tmp_path_factory, entries, data):
    conf = load(tmp_path_factory, data.draw(written(entries)).encode())
    assert conf.services == tuple(entries)
    assert conf.problems == ()


@given(mutated(documents()))
def test_damaged_file_gives_services_or_an_error_naming_it(tmp_path_factory, data):
    try:
        conf = load(tmp_path_factory, data)
    except ConfigError as exc:
        assert str(exc).startswith(f"{CONTRACT_PATH}: ")
        return
    for service in conf.services:
        assert service.processname and service.section
        assert "\n" not in service.processname and "\r" not in service.processname
    for problem in conf.problems:
        assert problem.startswith(f"{CONTRACT_PATH}: ")
