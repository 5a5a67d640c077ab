"""vrmonitor.toml: defaults, the schema, every kind of bad input, and the shipped file."""

import json
import re
import tomllib
from dataclasses import fields
from pathlib import Path

import jsonschema
import pytest

from vrmonitor.config import schema
from vrmonitor.config.settings import (
    AlertSettings, CheckOverride, DaemonSettings, DiagnosticsSettings, ExportSettings,
    HealthSettings, ServiceOverride, ServiceSettings, Settings, SystemVmSettings, load_settings, parse_settings)
from vrmonitor.errors import ConfigError

SHIPPED = Path(__file__).resolve().parents[2] / "etc" / "vrmonitor" / "vrmonitor.toml"


def problems_of(tmp_path, text):
    path = tmp_path / "vrmonitor.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_settings(path, "vrmonitor.toml")
    assert caught.value.source == "vrmonitor.toml"
    return caught.value.problems


# --- defaults ---------------------------------------------------------------------------------

def test_every_default():
    settings = Settings()
    assert settings.daemon == DaemonSettings(log_level="info")
    assert settings.alerts == AlertSettings(max_bytes=10485760, backups=5, reminder_interval=3600)
    assert settings.services == ServiceSettings(
        verify_interval=10, restart_attempts=5, backoff_initial=1, backoff_max=300,
        parked_reprobe_interval=300, startup_grace=300, override={})
    assert settings.health == HealthSettings(
        timeout=30, output_cap=16384, max_parallel=4, status_format="legacy", trust="strict",
        history=10, run_wait=300, checks={})
    assert settings.diagnostics == DiagnosticsSettings(
        deadline=55, command_timeout=60, zip_max_bytes=104857600)
    assert settings.export == ExportSettings(prometheus="auto")


def test_missing_file_means_all_defaults(tmp_path):
    assert load_settings(tmp_path / "absent.toml") == Settings()


def test_empty_file_and_empty_tables_mean_all_defaults(tmp_path):
    path = tmp_path / "vrmonitor.toml"
    path.write_text("")
    assert load_settings(path) == Settings()
    path.write_text("[daemon]\n[alerts]\n[services]\n[health]\n[diagnostics]\n[export]\n")
    assert load_settings(path) == Settings()


def test_schema_defaults_match_the_dataclasses():
    document = schema.load_schema("vrmonitor")
    sections = {"daemon": DaemonSettings(), "alerts": AlertSettings(), "services": ServiceSettings(),
                "health": HealthSettings(), "diagnostics": DiagnosticsSettings(),
                "export": ExportSettings(), "systemvm": SystemVmSettings()}
    assert set(document["properties"]) == set(sections)
    for name, defaults in sections.items():
        keys = document["properties"][name]["properties"]
        assert set(keys) == {item.name for item in fields(defaults)}, name
        for key, spec in keys.items():
            default = getattr(defaults, key)  # a TOML array is a tuple in the settings
            assert spec["default"] == (list(default) if isinstance(default, tuple) else default), \
                f"{name}.{key}"


@pytest.mark.parametrize("name", ["vrmonitor", "monitor_conf", "health_checks_data"])
def test_shipped_schemas_are_valid_2020_12(name):
    jsonschema.Draft202012Validator.check_schema(schema.load_schema(name))


# --- valid files ------------------------------------------------------------------------------

FULL = """
[daemon]
log_level = "debug"
[alerts]
max_bytes = 4096
backups = 50
reminder_interval = 0
[services]
verify_interval = 2.5
restart_attempts = 1
backoff_initial = 2
backoff_max = 60
parked_reprobe_interval = 600
startup_grace = 0
[services.override.loadbalancing]
probe = "tcp"
probe_port = 80
config_test = ["haproxy", "-c", "-f", "/etc/haproxy/haproxy.cfg"]
restart_attempts = 3
[services.override.dhcp]
probe = "dns"
[health]
timeout = 5
output_cap = 100
max_parallel = 1
status_format = "enum"
trust = "off"
history = 1
run_wait = 0.5
[health.checks."gateways_check.py"]
timeout = 120
dialect = "nagios"
[diagnostics]
deadline = 59.5
command_timeout = 1
zip_max_bytes = 1
[export]
prometheus = "off"
"""


def test_every_key_set(tmp_path):
    path = tmp_path / "vrmonitor.toml"
    path.write_text(FULL)
    settings = load_settings(path)
    assert settings.daemon == DaemonSettings(log_level="debug")
    assert settings.alerts == AlertSettings(max_bytes=4096, backups=50, reminder_interval=0)
    assert settings.services == ServiceSettings(
        verify_interval=2.5, restart_attempts=1, backoff_initial=2, backoff_max=60,
        parked_reprobe_interval=600, startup_grace=0, override={
            "loadbalancing": ServiceOverride(
                probe="tcp", probe_port=80, restart_attempts=3,
                config_test=("haproxy", "-c", "-f", "/etc/haproxy/haproxy.cfg")),
            "dhcp": ServiceOverride(probe="dns")})
    assert settings.health == HealthSettings(
        timeout=5, output_cap=100, max_parallel=1, status_format="enum", trust="off", history=1,
        run_wait=0.5, checks={"gateways_check.py": CheckOverride(timeout=120, dialect="nagios")})
    assert settings.diagnostics == DiagnosticsSettings(deadline=59.5, command_timeout=1,
                                                       zip_max_bytes=1)
    assert settings.export == ExportSettings(prometheus="off")


def test_number_keys_are_floats_and_integer_keys_ints():
    settings = parse_settings({"health": {"timeout": 5, "output_cap": 100.0},
                               "services": {"override": {"x": {"probe_port": 22.0}}}}, "t")
    assert type(settings.health.timeout) is float
    assert type(settings.health.output_cap) is int
    assert type(settings.services.override["x"].probe_port) is int
    assert type(Settings().services.verify_interval) is float


def test_override_lookups():
    settings = parse_settings({
        "services": {"restart_attempts": 7, "override": {"dhcp": {"restart_attempts": 2}}},
        "health": {"timeout": 9, "checks": {"slow.sh": {"timeout": 99}, "n.sh": {"dialect": "nagios"}}},
    }, "t")
    assert settings.services.restart_attempts_for("dhcp") == 2
    assert settings.services.restart_attempts_for("ssh") == 7
    assert settings.services.override_for("ssh") == ServiceOverride()
    assert settings.health.timeout_for("slow.sh") == 99
    assert settings.health.timeout_for("n.sh") == 9
    assert settings.health.dialect_for("n.sh") == "nagios"
    assert settings.health.dialect_for("slow.sh") == "cloudstack"


def test_settings_are_frozen():
    settings = Settings()
    with pytest.raises(AttributeError):
        settings.health.timeout = 1
    with pytest.raises(TypeError):
        settings.services.override["x"] = ServiceOverride()


# --- bad input: one line per problem, naming the file and the path ------------------------------

@pytest.mark.parametrize("text, expected", [
    ('[health]\ntimeout = "30"\n',
     "vrmonitor.toml: health.timeout: '30' is not of type 'number'"),
    ("[health]\ntiemout = 30\n",
     "vrmonitor.toml: health.tiemout: unknown key"),
    ("[healht]\ntimeout = 30\n",
     "vrmonitor.toml: healht: unknown key"),
    ("[services]\nverify_interval = -1\n",
     "vrmonitor.toml: services.verify_interval: -1 is less than or equal to the minimum of 0"),
    ("[services]\nverify_interval = 0\n",
     "vrmonitor.toml: services.verify_interval: 0 is less than or equal to the minimum of 0"),
    ("[alerts]\nreminder_interval = -1\n",
     "vrmonitor.toml: alerts.reminder_interval: -1 is less than the minimum of 0"),
    ("[alerts]\nbackups = 51\n",
     "vrmonitor.toml: alerts.backups: 51 is greater than the maximum of 50"),
    ("[alerts]\nbackups = true\n",
     "vrmonitor.toml: alerts.backups: True is not of type 'integer'"),
    ("[alerts]\nbackups = 2.5\n",
     "vrmonitor.toml: alerts.backups: 2.5 is not of type 'integer'"),
    ("[health]\noutput_cap = 0\n",
     "vrmonitor.toml: health.output_cap: 0 is less than or equal to the minimum of 0"),
    ('[health]\nstatus_format = "ENUM"\n',
     "vrmonitor.toml: health.status_format: 'ENUM' is not one of ['legacy', 'enum']"),
    ("[diagnostics]\ndeadline = 60\n",
     "vrmonitor.toml: diagnostics.deadline: 60 is greater than or equal to the maximum of 60"),
    ('[export]\nprometheus = true\n',
     "vrmonitor.toml: export.prometheus: True is not one of ['auto', 'on', 'off']"),
    ("health = 3\n",
     "vrmonitor.toml: health: 3 is not of type 'object'"),
    ("[services.override.dhcp]\nprobe_port = 0\n",
     "vrmonitor.toml: services.override.dhcp.probe_port: 0 is less than the minimum of 1"),
    ("[services.override.dhcp]\nconfig_test = []\n",
     "vrmonitor.toml: services.override.dhcp.config_test: must not be empty"),
    ('[services.override.dhcp]\nconfig_test = ["", "-t"]\n',
     "vrmonitor.toml: services.override.dhcp.config_test.0: must not be empty"),
    ('[services.override.dhcp]\nconfig_test = ["dnsmasq", 1]\n',
     "vrmonitor.toml: services.override.dhcp.config_test.1: 1 is not of type 'string'"),
    ('[services.override.dhcp]\nconfig_test = "dnsmasq --test"\n',
     "vrmonitor.toml: services.override.dhcp.config_test: 'dnsmasq --test' is not of type 'array'"),
    ("[services]\nverify_intervall = 3\n",
     "vrmonitor.toml: services.verify_intervall: unknown key"),
    ("[services.dhcp]\nprobe = 'dns'\n",
     "vrmonitor.toml: services.dhcp: unknown key"),
    ('[health.checks."a.sh"]\ntimeout = -5\n',
     'vrmonitor.toml: health.checks."a.sh".timeout: -5 is less than or equal to the minimum of 0'),
    ('[health.checks."a.sh"]\ndialect = "icinga"\n',
     "vrmonitor.toml: health.checks.\"a.sh\".dialect: 'icinga' is not one of ['cloudstack', 'nagios']"),
    ("[services]\nbackoff_initial = 10\nbackoff_max = 5\n",
     "vrmonitor.toml: services.backoff_max: 5 is less than services.backoff_initial (10)"),
    ("[health]\ntimeout = \n",
     "vrmonitor.toml: invalid TOML: Invalid value (at line 2, column 11)"),
    ("[health\ntimeout = 3\n",
     "vrmonitor.toml: invalid TOML: Expected ']' at the end of a table declaration (at line 1, column 8)"),
    ("[health]\ntimeout = 3\n[health]\n",
     "vrmonitor.toml: invalid TOML: Cannot declare ('health',) twice (at line 3, column 8)"),
    # found by tests/fuzz/test_fuzz_settings.py: nan passed every bound, deep nesting was a traceback
    ("[health]\ntimeout = nan\n", "vrmonitor.toml: health.timeout: nan is not a finite number"),
    ("[diagnostics]\ndeadline = nan\n",
     "vrmonitor.toml: diagnostics.deadline: nan is not a finite number"),
    ("[services]\nverify_interval = inf\n",
     "vrmonitor.toml: services.verify_interval: inf is not a finite number"),
    ("a = " + "[" * 3000 + "]" * 3000 + "\n", "vrmonitor.toml: invalid TOML: nested too deeply"),
])
def test_one_bad_value(tmp_path, text, expected):
    assert problems_of(tmp_path, text) == [expected]


def test_every_problem_is_reported_in_path_order(tmp_path):
    text = """
[health]
timeout = -1
tiemout = 30
output_cap = "big"
[services]
verify_interval = 0
[services.override.dhcp]
probe = "ping"
[daemon]
log_level = "trace"
"""
    assert problems_of(tmp_path, text) == [
        "vrmonitor.toml: daemon.log_level: 'trace' is not one of ['debug', 'info', 'warning', 'error']",
        "vrmonitor.toml: health.output_cap: 'big' is not of type 'integer'",
        "vrmonitor.toml: health.tiemout: unknown key",
        "vrmonitor.toml: health.timeout: -1 is less than or equal to the minimum of 0",
        "vrmonitor.toml: services.override.dhcp.probe: 'ping' is not one of ['none', 'dns', 'tcp', 'http', 'ssh']",
        "vrmonitor.toml: services.verify_interval: 0 is less than or equal to the minimum of 0",
    ]


def test_several_unknown_keys_in_one_table_each_get_a_line(tmp_path):
    assert problems_of(tmp_path, "[export]\na = 1\nb = 2\nprometheus = 'on'\n") == [
        "vrmonitor.toml: export.a: unknown key",
        "vrmonitor.toml: export.b: unknown key",
    ]


def test_invalid_utf8(tmp_path):
    path = tmp_path / "vrmonitor.toml"
    path.write_bytes(b"# caf\xe9\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert caught.value.problems == [f"{path}: invalid TOML: not UTF-8 (byte 5)"]


def test_unreadable_file_is_named(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path)
    assert caught.value.problems == [f"{tmp_path}: cannot read: Is a directory"]


def test_a_long_wrong_value_is_shortened():
    with pytest.raises(ConfigError) as caught:
        parse_settings({"health": {"timeout": "x" * 500}}, "t")
    [line] = caught.value.problems
    assert line.startswith("t: health.timeout: 'xxxx")
    assert line.endswith("xxx' is not of type 'number'")
    assert len(line) < 120


def test_top_level_problem():
    with pytest.raises(ConfigError) as caught:
        parse_settings([1, 2], "t")
    assert caught.value.problems == ["t: (top level): [1, 2] is not of type 'object'"]


# --- the shipped conffile -----------------------------------------------------------------------

def test_shipped_file_loads_to_defaults():
    assert load_settings(SHIPPED) == Settings()


def test_shipped_file_lists_every_key_with_its_default(tmp_path):
    """Uncommenting every `#key = value` line must still give the defaults, for every key."""
    text = SHIPPED.read_text()
    uncommented = re.sub(r"(?m)^#([a-z_]+ = )", r"\1", text)
    document = tomllib.loads(uncommented)
    keys = {f"{section}.{key}" for section, table in document.items() for key in table}
    spec = schema.load_schema("vrmonitor")["properties"]
    expected = {f"{section}.{key}" for section, table in spec.items()
                for key in table["properties"] if key not in ("override", "checks")}
    assert keys == expected
    assert parse_settings(document, "shipped") == Settings()


def test_problem_paths_quote_keys_that_are_not_bare():
    assert schema.Problem(("health", "checks", "a.sh", "timeout"), "m").dotted == \
        'health.checks."a.sh".timeout'
    assert schema.Problem(("checks", 2, "timeout"), "m").dotted == "checks.2.timeout"
    assert schema.Problem((), "m").line("f") == "f: (top level): m"
    assert json.loads(schema.Problem(("a b",), "m").dotted) == "a b"
