"""haproxy_check.py (advanced): the router's haproxy.cfg carries every load-balancing rule.

Contract 3.5. `haproxyData` holds one record per rule with at least one VM (sourceIp, source
and destination ports, algorithm, vmIps; newer servers add protocol, stickiness,
keepAliveEnabled, and per-rule http, transparent, sslcert, http2), and from LB-config servers
a leading record without sourceIp carrying global.maxconn, global.maxpipes and
default.timeout.*. Older servers put maxconn in each rule record instead.

What is checked, with the reference's messages first on each line:
  * global maxconn (and maxpipes, the defaults' connect/server/client timeouts when sent):
    `global maxconn mismatch occured. Expected <n> but found <m>`;
  * a section per rule, `listen <sourceIp with . -> _>-<ports>` (transparent rules: `frontend`
    of that name and `backend <name>-backend`):
    `Missing section for load balancing listen <name>; found ...`;
  * its balance method: `Incorrect balance method for listen <name>. Expected <a> but found <b>`;
  * its bind address: `Incorrect bind string found. Expected <ip:ports> but found <bind>.`;
  * http mode where the router writes it (port 80 without keep-alive, http=true, an SSL
    certificate, LbCookie/AppCookie stickiness): `Expected HTTP mode but not found in ...`;
  * a server line per VM: `Missing load balancing for <vmIp:ports>. Expected ...`.
Each failure adds what it expected and found where the reference text did not (issue #8177).

Read as haproxy reads its file, where the reference's reading gave false results: a section
starts at its keyword (the reference relied on blank lines between sections), `#` starts a
comment, fields are split on any whitespace, the last `mode`/`balance` wins and a proxy
without one inherits it from the `defaults` section before it (haproxy's defaults: tcp,
roundrobin); any matching `bind` line counts, and a server is found by its address whatever
its name. Records without sourceIp are settings, not rules (the reference crashed on them);
a rule without stickiness or keepAliveEnabled (older servers) is checked without those; a
listen section without server lines is reported (the reference passed it silently).
"""

from dataclasses import dataclass, field

from vrmonitor.checks.context import on_records
from vrmonitor.checks.context import read_lines
from vrmonitor.cloudstack.health_data import CONTRACT_PATH as DATA_PATH
from vrmonitor.cloudstack.records import format_port
from vrmonitor.errors import ConfigError
from vrmonitor.paths import Paths

KIND = "advanced"
KEY = "haproxyData"
VM_PATH = "/etc/haproxy/haproxy.cfg"
SSL_CERTS_DIR = "/etc/ssl/cloudstack/"

SKIP = "No data provided to check, skipping"
PASSED = "All checks pass"
UNREADABLE = "Unable to read config file " + VM_PATH

RULE_FIELDS = ("sourcePortStart", "sourcePortEnd", "destPortStart", "destPortEnd",
               "algorithm", "vmIps")
HTTP_STICKINESS = ("AppCookie", "LbCookie")
# haproxy's section keywords: each starts a new section wherever it appears.
SECTION_KEYWORDS = frozenset({
    "global", "defaults", "frontend", "backend", "listen", "userlist", "peers", "resolvers",
    "mailers", "program", "http-errors", "ring", "cache", "fcgi-app", "log-forward"})
PROXY_KEYWORDS = ("listen", "frontend", "backend")
RELATED_SHOWN = 3
HAPROXY_DEFAULT = {"mode": "tcp", "balance": "roundrobin"}


@dataclass
class Section:
    keyword: str
    name: str
    settings: dict[str, list[str]] = field(default_factory=dict)  # directive -> arguments
    defaults: "Section | None" = None

    @property
    def title(self) -> str:
        return f"{self.keyword} {self.name}".rstrip()

    def all(self, directive: str) -> list[str]:
        return self.settings.get(directive, [])

    def effective(self, directive: str) -> tuple[str | None, str]:
        """The value in force (the last line, else the defaults section's) and where it is set."""
        if self.all(directive):
            return self.all(directive)[-1], ""
        if self.defaults is not None and self.defaults.all(directive):
            return self.defaults.all(directive)[-1], " (from defaults)"
        return None, ""

    def timeout(self, kind: str) -> str | None:
        values = [args.split()[1] for args in self.all("timeout")
                  if len(args.split()) >= 2 and args.split()[0] == kind]
        return values[-1] if values else None

    def merged(self, other: "Section") -> "Section":
        """This section with `other`'s lines after its own (a frontend and its backend)."""
        settings = {key: list(values) for key, values in self.settings.items()}
        for key, values in other.settings.items():
            settings.setdefault(key, []).extend(values)
        return Section(self.keyword, self.name, settings, self.defaults)


@dataclass
class HaproxyConfig:
    sections: dict[str, Section]
    defaults: Section | None  # the last defaults section

    def proxies(self) -> list[str]:
        return [title for title, section in self.sections.items()
                if section.keyword in PROXY_KEYWORDS]


def parse_config(lines: list[str]) -> HaproxyConfig:
    sections: dict[str, Section] = {}
    current = defaults = None
    for line in lines:
        words = line.split()
        for index, word in enumerate(words):
            if word.startswith("#"):
                del words[index:]
                break
        if not words:
            continue
        if words[0] in SECTION_KEYWORDS:
            is_defaults = words[0] == "defaults"
            current = Section(words[0], words[1] if len(words) > 1 else "",
                              defaults=None if is_defaults else defaults)
            sections[current.title] = current
            if is_defaults:
                defaults = current
        elif current is not None:
            current.settings.setdefault(words[0], []).append(" ".join(words[1:]))
    return HaproxyConfig(sections, defaults)


def is_rule(record: dict[str, str]) -> bool:
    """A load-balancing rule; records without sourceIp carry global settings."""
    return bool(record.get("sourceIp"))


def rule_problems(data: list[dict[str, str]]) -> list[str]:
    """Rule records (those with sourceIp) lacking a field the check needs."""
    problems = []
    for number, record in enumerate(data, 1):
        if not is_rule(record):
            continue
        lacking = [name for name in RULE_FIELDS if not record.get(name)]
        if lacking:
            problems.append(f"{DATA_PATH}: {KEY} record {number} ({record['sourceIp']}) has no "
                            f"{' and no '.join(lacking)}")
    return problems


def check(data: list[dict[str, str]], config: HaproxyConfig) -> tuple[str, bool]:
    problems = global_problems(data, config)
    for record in data:
        if is_rule(record):
            problems += _rule(record, config)
    if problems:
        return "\n".join(problems), False
    return PASSED, True


def global_problems(data: list[dict[str, str]], config: HaproxyConfig) -> list[str]:
    settings = {}
    for record in data:
        if not is_rule(record):
            settings.update(record)
    maxconn = settings.get("global.maxconn") or (data[0].get("maxconn") if data else None)
    expected = [("global", "maxconn", maxconn),
                ("global", "maxpipes", settings.get("global.maxpipes"))]
    expected += [("default timeout", kind, settings.get(f"default.timeout.{kind}"))
                 for kind in ("connect", "server", "client")]
    problems = []
    for where, name, value in expected:
        if not value:
            continue
        found = _found_setting(config, where, name)
        if found != value:
            shown = found if found is not None else _absent(config, where, name)
            problems.append(f"{where} {name} mismatch occured. Expected {value} but found {shown}")
    return problems


def _found_setting(config: HaproxyConfig, where: str, name: str) -> str | None:
    if where == "global":
        section = config.sections.get("global")
        values = section.all(name) if section else []
        return values[-1].split()[0] if values and values[-1] else None
    return config.defaults.timeout(name) if config.defaults else None


def _absent(config: HaproxyConfig, where: str, name: str) -> str:
    if where == "global":
        if "global" not in config.sections:
            return "no global section"
        return f"no {name} line in the global section"
    if config.defaults is None:
        return "no defaults section"
    return f"no timeout {name} line in the defaults section"


def _rule(record: dict[str, str], config: HaproxyConfig) -> list[str]:
    ports = format_port(record["sourcePortStart"], record["sourcePortEnd"])
    prefix = record["sourceIp"].replace(".", "_") + "-"
    pool = prefix + ports
    section, missing = _sections_of(record, pool, config)
    if section is None:
        # sections of the same address on other ports
        related = [title for title in config.proxies()
                   if config.sections[title].name.startswith(prefix)]
        found = _some(related) if related else f"no section for {record['sourceIp']}"
        return [f"Missing section for load balancing {missing}; found {found}"]
    title = section.title
    problems = []

    balance, where = section.effective("balance")
    found = balance.split()[0] if balance else HAPROXY_DEFAULT["balance"]
    if found != record["algorithm"]:
        shown = f"{found}{where}" if balance else f"no balance line ({found} by default)"
        problems.append(f"Incorrect balance method for {title}. "
                        f"Expected {record['algorithm']} but found {shown}")

    expected_bind = [f"{record['sourceIp']}:{ports}"]
    if record.get("sslcert"):
        expected_bind += ["ssl", "crt", SSL_CERTS_DIR + record["sslcert"]]
    if record.get("http2", "").lower() == "true":
        expected_bind += ["alpn", "h2,http/1.1"]
    binds = section.all("bind")
    if not any(bind.split()[:len(expected_bind)] == expected_bind for bind in binds):
        problems.append(f"Incorrect bind string found. Expected {' '.join(expected_bind)} "
                        f"but found {', '.join(binds) or 'no bind line'}.")

    if _needs_http(record):
        mode, where = section.effective("mode")
        found = mode.split()[0] if mode else HAPROXY_DEFAULT["mode"]
        if found != "http":
            shown = f"mode {found}{where}" if mode else f"no mode line ({found} by default)"
            problems.append(f"Expected HTTP mode but not found in {title}: found {shown}")

    servers = [args.split()[1] for args in section.all("server") if len(args.split()) >= 2]
    dest_ports = format_port(record["destPortStart"], record["destPortEnd"])
    for vm_ip in record["vmIps"].split():
        pattern = f"{vm_ip}:{dest_ports}"
        if pattern not in servers:
            found = f"servers {_some(servers)}" if servers else "no server lines"
            problems.append(f"Missing load balancing for {pattern}. "
                            f"Expected a server {pattern} in {title} but found {found}")
    return problems


def _some(items: list[str]) -> str:
    shown = ", ".join(items[:RELATED_SHOWN])
    more = len(items) - RELATED_SHOWN
    return shown + (f" and {more} more" if more > 0 else "")


def _sections_of(record: dict[str, str], pool: str,
                 config: HaproxyConfig) -> tuple[Section | None, str]:
    """The section holding the rule (a frontend merged with its backend), or the missing title."""
    if record.get("transparent", "").lower() == "true":
        frontend = config.sections.get(f"frontend {pool}")
        backend = config.sections.get(f"backend {pool}-backend")
        if frontend is None:
            return None, f"frontend {pool}"
        if backend is None:
            return None, f"backend {pool}-backend"
        return frontend.merged(backend), ""
    listen = config.sections.get(f"listen {pool}")
    return (listen, "") if listen is not None else (None, f"listen {pool}")


def _needs_http(record: dict[str, str]) -> bool:
    """Whether the router writes `mode http` for this rule (CloudStack's HAProxyConfigurator)."""
    stickiness = record.get("stickiness", "")
    if any(method in stickiness for method in HTTP_STICKINESS):
        return True
    if record.get("http", "").lower() == "true" or record.get("sslcert"):
        return True
    plain_http = record["sourcePortStart"] == "80" and record["sourcePortEnd"] == "80"
    return (plain_http and record.get("keepAliveEnabled") == "false"
            and record.get("http", "").lower() != "false")


def judge(paths: Paths, data: list[dict[str, str]]) -> tuple[str, bool]:
    problems = rule_problems(data)
    if problems:
        raise ConfigError(KEY, problems)
    lines = read_lines(paths.haproxy_cfg, VM_PATH, failure=UNREADABLE)
    if lines is None:
        return f"{UNREADABLE}: the file does not exist", False
    if not any(line.strip() for line in lines):
        return f"{UNREADABLE}: the file is empty", False
    return check(data, parse_config(lines))


def main(argv: list[str], root: str) -> int:
    return on_records(argv, root, KIND, KEY, SKIP, judge)
