"""`/etc/monitor.conf` (contract 2.1): the services to monitor, read as tolerantly as the reference.

CloudStack's CsMonitor writes the file append-only: each `[section]`, `processname=`,
`servicename=` and `pidfile=` line is added only if no identical line exists anywhere in the
file, with no blank lines. So the reader accepts what that writer can produce and what a
hand edit may add, and reports anything odd without giving up on the other services:

* keys are case-insensitive; `=` or `:` separates key and value (the first one wins);
  values are taken literally (`%` is not interpolation), surrounding blanks stripped;
* a section that appears twice is merged into its first occurrence (file order is kept);
  a key given twice keeps the later value and reports it;
* full-line comments (`#`, `;`) and blank lines are skipped; lines before the first section
  and lines that are neither `[section]` nor `key=value` are reported and ignored;
* a section without a processname is skipped (as the reference does); one without a
  servicename or pidfile is kept with None there, and reported.

Messages name the file as `source`, by default its contract path, whatever the --root.
"""

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from vrmonitor.errors import ConfigError

LOG = logging.getLogger(__name__)

CONTRACT_PATH = "/etc/monitor.conf"
SCHEMA = "monitor_conf"

_SECTION = re.compile(r"\[(?P<name>.*)\]")
_SEPARATOR = re.compile(r"[=:]")


@dataclass(frozen=True)
class ServiceEntry:
    """One `[section]` of monitor.conf; `section` names the service in results (`ssh.service`)."""

    section: str
    processname: str
    servicename: str | None
    pidfile: str | None


@dataclass(frozen=True)
class MonitorConf:
    """The usable services in file order, and one line per problem found on the way."""

    services: tuple[ServiceEntry, ...] = ()
    problems: tuple[str, ...] = ()


def load_monitor_conf(path, source: str = CONTRACT_PATH) -> MonitorConf:
    """The services listed in the file at `path`; none (and no problem) when it does not exist.

    Raises ConfigError only when the file exists but cannot be read as text.
    """
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        LOG.debug("%s: absent, no services", source)
        return MonitorConf()
    except OSError as exc:
        raise ConfigError(source, [f"{source}: cannot read: {exc.strerror or exc}"]) from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(source, [f"{source}: not UTF-8 text (byte {exc.start})"]) from exc
    return parse_monitor_conf(text, source)


def parse_monitor_conf(text: str, source: str = CONTRACT_PATH) -> MonitorConf:
    """The services in monitor.conf's text, with every problem (none of them fatal)."""
    # Imported here so that importing this module for its types does not load jsonschema.
    from vrmonitor.config import schema

    sections, problems = _read_ini(text, source)
    order = {name: index for index, name in enumerate(sections)}
    # Section by section in file order, rather than by name.
    for problem in sorted(schema.validate(sections, SCHEMA),
                          key=lambda problem: (order.get(problem.path[:1] and problem.path[0], -1),
                                               problem.sort_key())):
        problems.append(f"{source}: {_where(problem.path)}: {problem.message}{_consequence(problem)}")
    services = []
    for name, keys in sections.items():
        if not keys.get("processname"):
            continue
        services.append(ServiceEntry(section=name, processname=keys["processname"],
                                     servicename=keys.get("servicename") or None,
                                     pidfile=keys.get("pidfile") or None))
    for problem in problems:
        LOG.debug("%s", problem)
    return MonitorConf(services=tuple(services), problems=tuple(problems))


def _read_ini(text: str, source: str) -> tuple[dict[str, dict[str, str]], list[str]]:
    """Sections (in order of first appearance) -> lower-case keys -> values, and line problems."""
    sections: dict[str, dict[str, str]] = {}
    problems: list[str] = []
    current = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        header = _SECTION.fullmatch(line)
        if header and header.group("name").strip():
            current = header.group("name").strip()
            sections.setdefault(current, {})
            continue
        separator = _SEPARATOR.search(line)
        key = line[:separator.start()].strip().lower() if separator else ""
        if not key:
            problems.append(f"{source}: line {number}: {line!r} is neither a [section] "
                            f"nor a key=value line; ignored")
            continue
        if current is None:
            problems.append(f"{source}: line {number}: {line!r} comes before the first "
                            f"[section]; ignored")
            continue
        value = line[separator.end():].strip()
        keys = sections[current]
        if key in keys and keys[key] != value:
            problems.append(f"{source}: {_where((current, key))}: given again on line {number}; "
                            f"{value!r} replaces {keys[key]!r}")
        keys[key] = value
    return sections, problems


def _where(path) -> str:
    """`[dhcp]` for a section, `[dhcp].pidfile` for one of its keys."""
    if not path:
        return "(top level)"
    return f"[{path[0]}]" + "".join(f".{part}" for part in path[1:])


def _consequence(problem) -> str:
    if problem.path[1:] == ("processname",):
        return "; service skipped"
    if problem.message == "unknown key":
        return "; ignored"
    return ""
