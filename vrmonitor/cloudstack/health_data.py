"""`/root/health_checks_data.json` (contract 3.2): what the management server wants checked.

CloudStack's CsMonitor writes the file; the runner and the built-in checks read it. A missing
file means health checks are disabled (the reference crashed). A present file must be valid as
a whole: a truncated or mistyped file is an error naming the file and the offending value,
never a traceback. Keys the contract does not know are allowed, since a newer management
server may add some.
"""

import logging
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

from vrmonitor.cloudstack.health_document import CONTRACT_PATH, DEFAULT_INTERVALS, read_document
from vrmonitor.cloudstack.records import parse_records
from vrmonitor.errors import ConfigError

LOG = logging.getLogger(__name__)

SCHEMA = "health_checks_data"


def _no_config() -> Mapping[str, str]:
    return MappingProxyType({})


@dataclass(frozen=True)
class HealthChecksData:
    """The file's content; each field defaults as the reference writer does for an absent key.

    Intervals are in minutes; 0 means that kind of run is not scheduled.
    """

    basic_interval: int = DEFAULT_INTERVALS["basic"]
    advanced_interval: int = DEFAULT_INTERVALS["advanced"]
    enabled: bool = False
    excluded: tuple[str, ...] = ()
    config: Mapping[str, str] = field(default_factory=_no_config)

    def interval(self, kind: str) -> int:
        """The run interval, in minutes, of `basic` or `advanced` runs."""
        return {"basic": self.basic_interval, "advanced": self.advanced_interval}[kind]

    def records(self, key: str) -> list[dict[str, str]] | None:
        """The parsed record string under `health_checks_config[key]`; None when the key is absent."""
        value = self.config.get(key)
        return None if value is None else parse_records(value)


def load_health_data(path, source: str = CONTRACT_PATH) -> HealthChecksData | None:
    """The data at `path` (read in one go: other writers replace the file); None when missing.

    Messages name the file as `source`, the contract path by default. Raises ConfigError
    when the file cannot be read, is not JSON, or does not match the contract.
    """
    document = read_document(path, source)
    return None if document is None else parse_health_data(document, source)


def config_records(path, key: str, source: str = CONTRACT_PATH) -> list[dict[str, str]] | None:
    """The records under health_checks_config.<key>, checking only what that needs.

    For the built-in checks, which each read one key: no schema validation of the whole file
    (the daemon does that), so a check does not pay for jsonschema's import. None when the file
    or the key is absent.
    """
    document = read_document(path, source)
    if document is None:
        return None
    config = document.get("health_checks_config", {}) if isinstance(document, dict) else None
    if not isinstance(config, dict):
        raise ConfigError(source, [f"{source}: health_checks_config: not an object"])
    if key not in config:
        return None
    value = config[key]
    if not isinstance(value, str):
        raise ConfigError(source, [
            f"{source}: health_checks_config.{key}: {value!r} is not of type 'string'"])
    return parse_records(value)


def parse_health_data(document, source: str = CONTRACT_PATH) -> HealthChecksData:
    """HealthChecksData from a decoded JSON document; ConfigError lists every problem."""
    # Imported here so that importing this module for its types does not load jsonschema.
    from vrmonitor.config import schema

    found = schema.problems(document, SCHEMA, source)
    if found:
        raise ConfigError(source, found)
    defaults = HealthChecksData()
    return HealthChecksData(
        # JSON Schema counts 3.0 as an integer; the fields hold ints.
        basic_interval=int(document.get("health_checks_basic_run_interval", defaults.basic_interval)),
        advanced_interval=int(document.get("health_checks_advanced_run_interval",
                                           defaults.advanced_interval)),
        enabled=document.get("health_checks_enabled", defaults.enabled),
        excluded=tuple(document.get("excluded_health_checks", defaults.excluded)),
        config=MappingProxyType(dict(document.get("health_checks_config", {}))),
    )
