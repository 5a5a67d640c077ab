"""iptables_check.py (advanced): every port-forwarding rule is a DNAT rule in the nat table.

Contract 3.5. For each `portForwarding` record, both chains PREROUTING and OUTPUT need a rule
with `-d <sourceIp>`, `--dport <start>[:<end>]` and `--to-destination <destIp>:<start>[-<end>]`.
The message formats are the reference's: the failure lists each missing rule as the Python list
of the four parts the reference searched for, e.g.
    Missing port forwarding rules in Iptables-
     ['PREROUTING', '-d 198.18.0.20', '--dport 22', '--to-destination 198.19.1.10:22']
followed here by one line per missing rule with the rules found for the same addresses in
that chain (issue #8177).

The reference piped `iptables-save | grep <destIp>` through a shell and looked for the four
parts as substrings of a line. This reads `iptables-save` once (argv, 10 s timeout) and
compares the parsed options, so `-d 198.18.0.2` no longer matches `-d 198.18.0.20/32`, nor
`--dport 22` a rule for port 2222; a negated option (`! -d`) does not count. When no rule
mentioned the VM, grep's exit status made the reference report `Unable to execute
iptables-save`; here that is a missing rule. iptables-save is found on PATH, then in /usr/sbin
and /sbin (cron's PATH has neither).
"""

import ipaddress
import os
import shlex
import shutil
from dataclasses import dataclass

from vrmonitor.checks.context import on_records
from vrmonitor.checks.context import same_ip
from vrmonitor.cloudstack.health_data import CONTRACT_PATH as DATA_PATH
from vrmonitor.cloudstack.records import format_port
from vrmonitor.errors import CheckError, CommandError, ConfigError
from vrmonitor.paths import Paths
from vrmonitor.system.process import run

KIND = "advanced"
KEY = "portForwarding"

SKIP = "No port forwarding rules provided to check, skipping"
PASSED = "Found all entries (count {count}) in iptables"
FAILED = "Missing port forwarding rules in Iptables-"
UNRUNNABLE = "Unable to execute iptables-save command for fetching rules"

CHAINS = ("PREROUTING", "OUTPUT")
FIELDS = ("sourceIp", "sourcePortStart", "sourcePortEnd", "destIp", "destPortStart", "destPortEnd")
COMMAND = "iptables-save"
SBIN = ("/usr/sbin", "/sbin")
TIMEOUT = 10.0
CAP = 64 * 1024 * 1024  # bytes of iptables-save output kept
RELATED_SHOWN = 3
OPTIONS = {"-d": "destination", "--destination": "destination", "--dport": "dport",
           "--destination-port": "dport", "--to-destination": "to_destination"}


@dataclass(frozen=True)
class Rule:
    """One `-A <chain> ...` line of iptables-save, with the options the check compares."""

    text: str
    chain: str
    destination: str | None = None  # as written, e.g. 198.18.0.20/32
    dport: str | None = None
    to_destination: str | None = None

    @classmethod
    def parse(cls, line: str) -> "Rule | None":
        if not line.startswith("-A "):
            return None
        try:
            words = shlex.split(line)
        except ValueError:  # an unbalanced quote in a comment: plain words will do
            words = line.split()
        if len(words) < 2:
            return None
        options = {}
        for index, word in enumerate(words[:-1]):
            negated = index > 0 and words[index - 1] == "!"
            if word in OPTIONS and not negated:
                options[OPTIONS[word]] = words[index + 1]
        return cls(line.strip(), words[1], **options)

    def to_host(self, ip: str) -> bool:
        """Whether -d names exactly the address `ip` (iptables-save writes it as ip/32)."""
        if self.destination is None:
            return False
        try:
            network = ipaddress.ip_network(self.destination, strict=False)
        except ValueError:
            return False
        return network.num_addresses == 1 and same_ip(str(network.network_address), ip)


@dataclass(frozen=True)
class Expected:
    chain: str
    source_ip: str
    dport: str
    to_destination: str
    dest_ip: str

    @classmethod
    def of(cls, record: dict[str, str], chain: str) -> "Expected":
        dport = format_port(record["sourcePortStart"], record["sourcePortEnd"], ":")
        ports = format_port(record["destPortStart"], record["destPortEnd"], "-")
        return cls(chain, record["sourceIp"], dport, f"{record['destIp']}:{ports}",
                   record["destIp"])

    def parts(self) -> list[str]:
        """What the reference searched for, and printed when it was missing."""
        return [self.chain, f"-d {self.source_ip}", f"--dport {self.dport}",
                f"--to-destination {self.to_destination}"]

    def matched_by(self, rule: Rule) -> bool:
        return (rule.chain == self.chain and rule.to_host(self.source_ip)
                and rule.dport == self.dport and rule.to_destination == self.to_destination)

    def related(self, rule: Rule) -> bool:
        target = (rule.to_destination or "").rsplit(":", 1)[0]
        return rule.chain == self.chain and (rule.to_host(self.source_ip)
                                             or same_ip(target, self.dest_ip))


def record_problems(records: list[dict[str, str]]) -> list[str]:
    problems = []
    for number, record in enumerate(records, 1):
        lacking = [name for name in FIELDS if not record.get(name)]
        if lacking:
            shown = ",".join(f"{key}={value}" for key, value in record.items())
            problems.append(f"{DATA_PATH}: {KEY} record {number} ({shown}) has no "
                            f"{' and no '.join(lacking)}")
    return problems


def parse_rules(saved: str) -> list[Rule]:
    parsed = (Rule.parse(line) for line in saved.splitlines())
    return [rule for rule in parsed if rule is not None]


def check(records: list[dict[str, str]], saved: str) -> tuple[str, bool]:
    """The message and verdict for the records against iptables-save's output."""
    rules = parse_rules(saved)
    missing = [expected for record in records for expected in
               (Expected.of(record, chain) for chain in CHAINS)
               if not any(expected.matched_by(rule) for rule in rules)]
    if not missing:
        return PASSED.format(count=len(records)), True
    listed = "\n".join(str(expected.parts()) for expected in missing)
    details = [f"{expected.chain}: expected a rule with {' '.join(expected.parts()[1:])}; "
               f"found {_found(expected, rules)}" for expected in missing]
    return "\n".join([f"{FAILED}\n {listed}", *details]), False


def _found(expected: Expected, rules: list[Rule]) -> str:
    related = [rule.text for rule in rules if expected.related(rule)]
    if not related:
        return (f"no {expected.chain} rule for {expected.source_ip} "
                f"or to {expected.dest_ip}")
    more = len(related) - RELATED_SHOWN
    return "; ".join(related[:RELATED_SHOWN]) + (f"; and {more} more" if more > 0 else "")


def iptables_save() -> str:
    """iptables-save's output; CommandError saying why when it cannot be had."""
    search = os.pathsep.join([os.environ.get("PATH", os.defpath), *SBIN])
    command = shutil.which(COMMAND, path=search) or COMMAND
    done = run([command], timeout=TIMEOUT, cap=CAP)
    if done.timed_out:
        raise CommandError(f"{COMMAND} did not finish within {TIMEOUT:g} s")
    if done.returncode != 0:
        said = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise CommandError(f"{COMMAND} exited with status {done.returncode}"
                           + (f": {said[0]}" if said else ""))
    if done.stdout_truncated:
        raise CommandError(f"{COMMAND} printed more than {CAP // (1024 * 1024)} MiB")
    return done.stdout.decode("utf-8", "replace")


def judge(paths: Paths, records: list[dict[str, str]]) -> tuple[str, bool]:
    problems = record_problems(records)
    if problems:
        raise ConfigError(KEY, problems)
    try:
        saved = iptables_save()
    except CommandError as exc:
        raise CheckError(f"{UNRUNNABLE}: {exc}") from exc
    return check(records, saved)


def main(argv: list[str], root: str) -> int:
    return on_records(argv, root, KIND, KEY, SKIP, judge)
