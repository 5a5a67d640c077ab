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
  servicename or pidfile is kept with None there, and reported;
* a line that is not UTF-8 is invalid input: when it is a `[section]` line or one of a
  section's lines, that service is skipped, and the problem names the line with the bytes
  escaped (`\\xff`); the other services are read as usual. A comment is not checked.

Messages name the file as `source`, by default its contract path, whatever the --root.
"""

import logging
import re
from dataclasses import dataclass

from vrmonitor.cloudstack.utf8 import escaped, is_utf8
from vrmonitor.config.input_file import read_input_file

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

    Raises ConfigError only when the file exists but cannot be read.
    """
    data = read_input_file(path, source, "no services")
    if data is None:
        return MonitorConf()
    # Line by line: one bad line costs its service, not every service of the router.
    return parse_monitor_conf(data.decode("utf-8", "surrogateescape"), source)


def parse_monitor_conf(text: str, source: str = CONTRACT_PATH) -> MonitorConf:
    """The services in monitor.conf's text, with every problem (none of them fatal)."""
    # Imported here so that importing this module for its types does not load jsonschema.
    from vrmonitor.config import schema

    sections, problems = _read_ini(text, source)
    order: dict[str | int, int] = {name: index for index, name in enumerate(sections)}
    # Section by section in file order, rather than by name.
    for problem in sorted(schema.validate(sections, SCHEMA),
                          key=lambda problem: (order.get(problem.path[0], -1) if problem.path else -1,
                                               problem.sort_key())):
        problems.append(f"{source}: {_where(problem.path)}: {problem.message}{_consequence(problem)}")
    services = []
    for name, keys in sections.items():
        if not keys.get("processname"):
            continue
        services.append(ServiceEntry(section=name, processname=keys["processname"],
                                     servicename=keys.get("servicename") or None,
                                     pidfile=keys.get("pidfile") or None))
    for text in problems:
        LOG.debug("%s", text)
    return MonitorConf(services=tuple(services), problems=tuple(problems))


def _read_ini(text: str, source: str) -> tuple[dict[str, dict[str, str]], list[str]]:
    """Sections (in order of first appearance) -> lower-case keys -> values, and line problems."""
    sections: dict[str, dict[str, str]] = {}
    problems: list[str] = []
    rejected: set[str] = set()
    current = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        header = _SECTION.fullmatch(line)
        if not is_utf8(line):
            if header:
                # Kept under its undecodable name, which no valid section can have, so that
                # the lines that follow go with it and not into the section before.
                current = header.group("name").strip()
                sections.setdefault(current, {})
            consequence = "ignored" if current is None else (
                "service skipped" if header else f"service [{escaped(current)}] skipped")
            if current is not None:
                rejected.add(current)
            problems.append(f"{source}: line {number}: '{escaped(line)}' is not UTF-8 text; "
                            f"{consequence}")
            continue
        if header and header.group("name").strip():
            current = header.group("name").strip()
            sections.setdefault(current, {})
            continue
        separator = _SEPARATOR.search(line)
        key = line[:separator.start()].strip().lower() if separator else ""
        if separator is None or not key:
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
    for name in rejected:
        del sections[name]
    return sections, problems


def _where(path) -> str:
    """`[dhcp]` for a section, `[dhcp].pidfile` for one of its keys."""
    if not path:
        return "(top level)"
    return f"[{escaped(path[0])}]" + "".join(f".{part}" for part in path[1:])


def _consequence(problem) -> str:
    if problem.path[1:] == ("processname",):
        return "; service skipped"
    if problem.message == "unknown key":
        return "; ignored"
    return ""
