"""vrmonitor.toml: read, validate against the shipped schema, and freeze into Settings.

Defaults apply only to absent keys; a present key with a wrong value is an error, never
silently replaced. A missing file means every default. Every problem is reported at once,
each naming the file and the dotted path of the value (`services.verify_interval`).
"""

import logging
import math
import tomllib
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Mapping

from vrmonitor.config import schema
from vrmonitor.config.input_file import read_input_file
from vrmonitor.errors import ConfigError

LOG = logging.getLogger(__name__)

SCHEMA = "vrmonitor"


def _no_entries() -> Mapping:
    return MappingProxyType({})


@dataclass(frozen=True)
class DaemonSettings:
    log_level: str = "info"


@dataclass(frozen=True)
class AlertSettings:
    max_bytes: int = 10485760
    backups: int = 5
    reminder_interval: int = 3600  # seconds; 0 = no reminders


@dataclass(frozen=True)
class ServiceOverride:
    """`[services.override.<section>]`: None means the [services] value or the built-in choice."""

    probe: str | None = None
    probe_port: int | None = None
    config_test: tuple[str, ...] | None = None
    restart_attempts: int | None = None


@dataclass(frozen=True)
class ServiceSettings:
    verify_interval: float = 10.0
    restart_attempts: int = 5
    backoff_initial: float = 1.0
    backoff_max: float = 300.0
    parked_reprobe_interval: float = 300.0
    stable_after: float = 60.0
    startup_grace: float = 300.0
    override: Mapping[str, ServiceOverride] = field(default_factory=_no_entries)

    def override_for(self, section: str) -> ServiceOverride:
        """The settings of one /etc/monitor.conf section (all None when it has none)."""
        return self.override.get(section, ServiceOverride())

    def restart_attempts_for(self, section: str) -> int:
        attempts = self.override_for(section).restart_attempts
        return self.restart_attempts if attempts is None else attempts


@dataclass(frozen=True)
class CheckOverride:
    """`[health.checks."<file name>"]`: None means the [health] value or the default dialect."""

    timeout: float | None = None
    dialect: str | None = None


# Built-in checks that tell a warning from a failure by their exit status under status_format
# "enum" (the nagios dialect: 1 WARNING, 2 FAILED).
WARNING_CHECKS = ("systemvm_certificate_check.py",)


@dataclass(frozen=True)
class HealthSettings:
    timeout: float = 30.0
    output_cap: int = 16384
    max_parallel: int = 4
    status_format: str = "legacy"
    trust: str = "strict"
    history: int = 10
    run_wait: float = 300.0
    checks: Mapping[str, CheckOverride] = field(default_factory=_no_entries)

    def timeout_for(self, check: str) -> float:
        timeout = self.checks.get(check, CheckOverride()).timeout
        return self.timeout if timeout is None else timeout

    def dialect_for(self, check: str) -> str:
        chosen = self.checks.get(check, CheckOverride()).dialect
        if chosen:
            return chosen
        # With the 4.22 vocabulary these exit 1 for WARNING and 2 for FAILED (contract 10.7).
        return "nagios" if self.status_format == "enum" and check in WARNING_CHECKS else "cloudstack"


@dataclass(frozen=True)
class DiagnosticsSettings:
    deadline: float = 55.0
    command_timeout: float = 60.0
    zip_max_bytes: int = 104857600
    item_max_bytes: int = 67108864
    unpacked_max_bytes: int = 1073741824
    collect_deadline: float = 300.0


@dataclass(frozen=True)
class ExportSettings:
    prometheus: str = "auto"


# Router-only checks: without a router's data they would only say they skip.
ROUTER_ONLY_CHECKS = ("dhcp_check.py", "dns_check.py", "gateways_check.py", "haproxy_check.py",
                      "iptables_check.py", "router_version_check.py")


@dataclass(frozen=True)
class SystemVmSettings:
    """`[systemvm]`: what vrmonitor writes as health_checks_data.json on the secondary storage
    VM and the console proxy VM, where no management server sends one (docs/system-vms.md)."""

    health_checks_enabled: bool = True
    basic_interval: int = 3
    advanced_interval: int = 10
    excluded_checks: tuple[str, ...] = ROUTER_ONLY_CHECKS
    max_cpu_usage: float = 100.0
    max_memory_usage: float = 100.0
    min_disk_needed: float = 100.0
    min_days_left: int = 30
    url_domain: str = ""
    io_timeout: float = 10.0
    dns_check_name: str = "cloudstack.apache.org"
    boot_grace: int = 300


@dataclass(frozen=True)
class Settings:
    daemon: DaemonSettings = field(default_factory=DaemonSettings)
    alerts: AlertSettings = field(default_factory=AlertSettings)
    services: ServiceSettings = field(default_factory=ServiceSettings)
    health: HealthSettings = field(default_factory=HealthSettings)
    diagnostics: DiagnosticsSettings = field(default_factory=DiagnosticsSettings)
    export: ExportSettings = field(default_factory=ExportSettings)
    systemvm: SystemVmSettings = field(default_factory=SystemVmSettings)


def load_settings(path, source: str | None = None) -> Settings:
    """Settings from the TOML file at `path`; all defaults when it does not exist.

    `source` names the file in messages (default: `path` as given). Raises ConfigError with
    every problem when the file cannot be read, is not TOML or does not match the schema.
    """
    source = source or str(path)
    data = read_input_file(path, source, "defaults apply")
    if data is None:
        return Settings()
    try:
        document = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(source, [f"{source}: invalid TOML: not UTF-8 (byte {exc.start})"]) from exc
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message ends with "(at line L, column C)"
        raise ConfigError(source, [f"{source}: invalid TOML: {exc}"]) from exc
    except RecursionError as exc:
        raise ConfigError(source, [f"{source}: invalid TOML: nested too deeply"]) from exc
    return parse_settings(document, source)


def parse_settings(document: Mapping, source: str) -> Settings:
    """Settings from an already parsed TOML document; ConfigError lists every problem."""
    found = schema.validate(document, SCHEMA) + _range_problems(document) + _non_finite(document)
    if found:
        raise ConfigError(source, [problem.line(source)
                                   for problem in sorted(found, key=schema.Problem.sort_key)])
    services = document.get("services", {})
    health = document.get("health", {})
    return Settings(
        daemon=_section(DaemonSettings, document.get("daemon", {})),
        alerts=_section(AlertSettings, document.get("alerts", {})),
        services=_section(ServiceSettings, services, override=MappingProxyType({
            name: _service_override(table) for name, table in services.get("override", {}).items()})),
        health=_section(HealthSettings, health, checks=MappingProxyType({
            name: _check_override(table) for name, table in health.get("checks", {}).items()})),
        diagnostics=_section(DiagnosticsSettings, document.get("diagnostics", {})),
        export=_section(ExportSettings, document.get("export", {})),
        systemvm=_section(SystemVmSettings, document.get("systemvm", {})),
    )


def _section(cls, table: Mapping, **nested):
    """One section's dataclass: present scalar keys converted to the type of their default.

    The schema has already checked the values; the conversion only makes TOML's `30` a float
    and an integral `5.0` an int, so consumers see one type per setting.
    """
    # Every settings field has a default: type() never sees dataclasses.MISSING.
    values = {item.name: type(item.default)(table[item.name])  # type: ignore[misc]
              for item in fields(cls) if item.name in table and item.name not in nested}
    return cls(**values, **nested)


def _service_override(table: Mapping) -> ServiceOverride:
    return ServiceOverride(
        probe=table.get("probe"),
        probe_port=_optional(int, table.get("probe_port")),
        config_test=_optional(tuple, table.get("config_test")),
        restart_attempts=_optional(int, table.get("restart_attempts")),
    )


def _check_override(table: Mapping) -> CheckOverride:
    return CheckOverride(timeout=_optional(float, table.get("timeout")), dialect=table.get("dialect"))


def _optional(convert, value):
    return None if value is None else convert(value)


def _range_problems(document: Mapping) -> list[schema.Problem]:
    """Relations between keys, which the schema cannot express."""
    services = document.get("services") if isinstance(document, Mapping) else None
    if not isinstance(services, Mapping):
        return []
    initial = services.get("backoff_initial", ServiceSettings.backoff_initial)
    maximum = services.get("backoff_max", ServiceSettings.backoff_max)
    if _positive_number(initial) and _positive_number(maximum) and maximum < initial:
        return [schema.Problem(("services", "backoff_max"),
                               f"{maximum!r} is less than services.backoff_initial ({initial!r})")]
    return []


def _non_finite(value, path: tuple = ()) -> list[schema.Problem]:
    """TOML's nan and inf: every bound of the schema lets nan through (it compares false)."""
    if isinstance(value, float) and not math.isfinite(value):
        return [schema.Problem(path, f"{value!r} is not a finite number")]
    if isinstance(value, Mapping):
        return [problem for key, item in value.items() for problem in _non_finite(item, path + (key,))]
    if isinstance(value, list):
        return [problem for index, item in enumerate(value)
                for problem in _non_finite(item, path + (index,))]
    return []


def _positive_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0
