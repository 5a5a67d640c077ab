"""/root/health_checks_data.json (contract 3.2) and its record strings.

Through the readers the program uses: load_health_data (the daemon and monitorServices.py),
config_records (each built-in check), parse_records, and the built-in checks' own main()
that read record strings (run in-process on a temporary root; none of them sends anything).
Every input gives data or a ConfigError naming the file; a check answers with one message
and exit 0 or 1; never another exception.
"""

import io
import json
from contextlib import redirect_stdout

import pytest
from hypothesis import example, given, strategies as st

from tests.fuzz.hang_guard import no_hang
from tests.fuzz.mutations import TEXT_CHARACTERS, json_values, mutated
from vrmonitor.checks import (cpu_usage, dhcp, disk_space, dns, haproxy, iptables, memory_usage,
                              router_version)
from vrmonitor.cloudstack.health_data import (CONTRACT_PATH, HealthChecksData, config_records,
                                              load_health_data)
from vrmonitor.cloudstack.records import parse_records
from vrmonitor.errors import ConfigError
from vrmonitor.paths import Paths

pytestmark = [pytest.mark.fuzz]

CONFIG_KEYS = ("virtualMachines", "gateways", "portForwarding", "haproxyData",
               "systemThresholds", "routerVersion")
FIELDS = ("vmName", "macAddress", "ip", "dhcp", "dns", "gatewaysIps", "sourceIp",
          "sourcePortStart", "sourcePortEnd", "destIp", "destPortStart", "destPortEnd", "maxconn",
          "algorithm", "vmIps", "protocol", "stickiness", "keepAliveEnabled", "minDiskNeeded",
          "maxCpuUsage", "maxMemoryUsage", "templateVersion", "scriptsVersion", "global.maxconn")
PLAIN = st.text(st.characters(min_codepoint=33, max_codepoint=126, blacklist_characters=";,="),
                min_size=1, max_size=12)
FIELD_VALUES = (st.sampled_from(("10.1.1.10", "02:00:4c:5f:00:01", "true", "false", "22", "100.0",
                                 "1e999", "nan", "-1", "None", "10.1.1.10 10.1.1.11", "vm-1",
                                 "roundrobin", "tcp", "::1", "0" * 400))
                | PLAIN)


def records_of(keys=st.sampled_from(FIELDS) | PLAIN):
    return st.lists(st.dictionaries(keys, FIELD_VALUES, min_size=1, max_size=8), max_size=4)


def record_string(records, trailing: bool = True) -> str:
    text = ";".join(",".join(f"{key}={value}" for key, value in record.items()) for record in records)
    return text + (";" if trailing and records else "")


@st.composite
def documents(draw):
    """health_checks_data.json as CsMonitor writes it, values sometimes of the wrong type."""
    def value(valid):
        return draw(st.one_of(valid, json_values()) if draw(st.integers(0, 9)) == 0 else valid)

    config = {key: record_string(draw(records_of())) for key in
              draw(st.lists(st.sampled_from(CONFIG_KEYS), unique=True))}
    document = {
        "health_checks_basic_run_interval": value(st.integers(0, 60)),
        "health_checks_advanced_run_interval": value(st.integers(0, 60)),
        "health_checks_enabled": value(st.booleans()),
        "excluded_health_checks": value(st.lists(st.sampled_from(("cpu_usage_check.py",
                                                                  "gateways_check.py")))),
        "health_checks_config": value(st.just(config)),
    }
    for key in draw(st.lists(st.sampled_from(list(document)), unique=True, max_size=2)):
        del document[key]
    return json.dumps(document, ensure_ascii=False, indent=4).encode()


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("health-data")
    (root / "root").mkdir()
    (root / "etc" / "haproxy").mkdir(parents=True)
    (root / "etc" / "dhcphosts.txt").write_text("02:00:4c:5f:00:01,10.1.1.10,vm-1,infinite\n")
    (root / "etc" / "hosts").write_text("127.0.0.1\tlocalhost\n10.1.1.10\tvm-1\n")
    (root / "etc" / "haproxy" / "haproxy.cfg").write_text(
        "listen 192.0.2.21-80\n  bind 192.0.2.21:80\n  balance roundrobin\n"
        "  server 10_1_1_10-80 10.1.1.10:80 check\n")
    (root / "etc" / "cloudstack-release").write_text("Cloudstack Release 4.19.1.0\n")
    return Paths(root)


@given(records_of(keys=PLAIN), st.booleans(), st.sampled_from(("", " ", "\n", " ;; ")))
def test_records_read_back_as_written(records, trailing, padding):
    """Contract A13: fields without separators come back exactly (later repeats of a key win)."""
    assert parse_records(padding + record_string(records, trailing) + padding) == records


@given(st.text(TEXT_CHARACTERS) | mutated(st.builds(record_string, records_of()).map(str.encode)).map(
    lambda data: data.decode("utf-8", "replace")))
@example("x=1=2,y=3")
@example(";;,,==;")
def test_any_record_string_gives_records(text):
    with no_hang(5, "parse_records"):
        records = parse_records(text)
    for record in records:
        assert record and all(isinstance(key, str) and isinstance(value, str)
                              for key, value in record.items())
        assert not any(";" in key + value or "," in key + value or "=" in key + value
                       for key, value in record.items())


@given(mutated(documents()))
@example(b"[" * 100_000)  # nested too deeply for the JSON decoder
@example(b'{"health_checks_basic_run_interval": ' + b"9" * 5000 + b"}")  # too many digits for int()
@example(b'{"health_checks_basic_run_interval": NaN}')
@example(b'{"health_checks_basic_run_interval": 1e999}')
def test_damaged_file_gives_data_or_an_error_naming_it(root, data):
    path = root.health_checks_data
    path.write_bytes(data)
    try:
        with no_hang(10, "load_health_data"):
            found = load_health_data(path)
    except ConfigError as exc:
        assert exc.problems and all(line.startswith(f"{CONTRACT_PATH}: ") for line in exc.problems)
        return
    assert isinstance(found, HealthChecksData)
    for interval in (found.basic_interval, found.advanced_interval):
        assert isinstance(interval, int) and interval >= 0
    assert isinstance(found.enabled, bool)
    assert all(isinstance(name, str) for name in found.excluded)
    for key in found.config:
        assert isinstance(found.records(key), list)


CHECKS = (dhcp, dns, haproxy, router_version, disk_space, memory_usage, cpu_usage)


@given(mutated(documents(), max_edits=2), st.sampled_from(CHECKS))
@example(b'{"health_checks_config": {"systemThresholds": "maxCpuUsage=nan"}}', cpu_usage)
@example(b'{"health_checks_config": {"systemThresholds": "minDiskNeeded=1e999"}}', disk_space)
@example(b'{"health_checks_config": []}', dhcp)
def test_checks_answer_whatever_the_data(root, data, check):
    root.health_checks_data.write_bytes(data)
    measured = {"measure": lambda *args: 1.7} if check in (cpu_usage, memory_usage) else {}
    out = io.StringIO()
    with redirect_stdout(out), no_hang(20, check.__name__):
        status = check.main([check.KIND], str(root.root), **measured)
    assert status in (0, 1)
    message = out.getvalue()
    assert message.endswith("\n") and message.strip(), message


@given(mutated(documents(), max_edits=2))
def test_iptables_check_reads_any_port_forwarding_records(root, data):
    root.health_checks_data.write_bytes(data)
    try:
        records = config_records(root.health_checks_data, iptables.KEY)
    except ConfigError as exc:
        assert all(line.startswith(f"{CONTRACT_PATH}: ") for line in exc.problems)
        return
    if not records or iptables.record_problems(records):
        return
    saved = "*nat\n-A PREROUTING -d 192.0.2.20/32 -p tcp -m tcp --dport 22 -j DNAT --to-destination 10.1.1.10:22\nCOMMIT\n"
    message, ok = iptables.check(records, saved)
    assert isinstance(message, str) and message and isinstance(ok, bool)


def test_threshold_values_are_numbers_or_a_named_error(root):
    """A NaN threshold is refused by name rather than compared (NaN compares false both ways)."""
    root.health_checks_data.write_text(json.dumps(
        {"health_checks_config": {"systemThresholds": "maxCpuUsage=nan"}}))
    out = io.StringIO()
    with redirect_stdout(out):
        status = cpu_usage.main(["basic"], str(root.root), measure=lambda: 1.7)
    assert (status, out.getvalue()) == (1, "Invalid maxCpuUsage in health_checks_data "
                                           "systemThresholds: expected a number, found 'nan'\n")
