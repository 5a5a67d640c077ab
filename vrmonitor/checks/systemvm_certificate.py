"""systemvm_certificate_check.py (advanced): the TLS certificate a system VM serves, as a
browser gets it (contract 10.7).

Endpoints: on the CPVM 127.0.0.1:443 (`premium=true`) and 127.0.0.1:8443 (websocket port 8443);
its certificate lives in the Java process only, never on disk, so it is read from the wire. On
the SSVM <public IP>:443 with `sslcopy=true`. No endpoint: a skip.

Per endpoint the served chain is read with `openssl s_client -showcerts` and each certificate
described by `openssl x509`: days left = floor((leaf notAfter - now) / 1 day); fewer than
`minDaysLeft` is the expiry line, 0 or fewer the expired line. Chain: every served certificate
within validity, every issuer served or in the VM's trust store (/etc/ssl/certs, found by
OpenSSL's subject hash). Hostname: with `urlDomain` the 10.5 rule on the public IP
(`*.<d>` -> `<dashed IP>.<d>`, a name without `*` as is); without it, a leaf name `*.<d>` gives
`<dashed IP>.<d>`; else not checked. A `*` stands for exactly the left-most label.

Exit status: 1 for any finding. With [health] status_format "enum" the check runs in the nagios
dialect (config/settings.py): 1 when the only finding is a certificate close to expiry (WARNING),
2 for the rest (FAILED).
"""

import math
import os
import re
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import partial

from vrmonitor.checks.consoleproxy_listeners import TLS_WEBSOCKET, websocket_port
from vrmonitor.checks.roles import CHECK_ROLES
from vrmonitor.checks.systemvm import Thresholds, on_roles, tls_reason
from vrmonitor.cloudstack.cmdline import CONSOLEPROXY, SECSTORAGE, BootArgs
from vrmonitor.errors import CommandError, ConfigError
from vrmonitor.paths import Paths
from vrmonitor.system.process import run

NAME = "systemvm_certificate_check.py"
KIND = "advanced"
SKIP = "SSL is not enabled on this system VM, skipping"
DEADLINE = 5.0
TRUST_FOLDER = "/etc/ssl/certs"
PASS, WARNING_EXIT, FAIL_EXIT = 0, 1, 2
_PEM = re.compile(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)
_HASH = re.compile(r"[0-9a-f]{8}")


@dataclass(frozen=True)
class Cert:
    subject: str
    issuer: str
    subject_hash: str
    issuer_hash: str
    not_before: float
    not_after: float
    names: tuple[str, ...]  # DNS names of subjectAltName
    fingerprint: str

    @property
    def name(self) -> str:
        common = re.search(r"(?:^|,)CN=((?:[^,\\]|\\.)*)", self.subject)
        if common:
            return common.group(1)
        return self.names[0] if self.names else self.subject


def endpoints(paths: Paths, boot: BootArgs) -> list[tuple[str, int]]:
    if boot.role == CONSOLEPROXY:
        found = [("127.0.0.1", 443)] if boot.get("premium") == "true" else []
        if websocket_port(paths) == TLS_WEBSOCKET:
            found.append(("127.0.0.1", TLS_WEBSOCKET))
        return found
    if boot.role == SECSTORAGE and boot.get("sslcopy") == "true" and boot.public_ip:
        return [(boot.public_ip, 443)]
    return []


def served_chain(host: str, port: int) -> list[str]:
    """The PEM certificates the endpoint sends, leaf first (CommandError when none)."""
    done = run(["openssl", "s_client", "-connect", f"{host}:{port}", "-showcerts"],
               timeout=DEADLINE, cap=1 << 20)
    chain = _PEM.findall(done.stdout.decode("ascii", "replace"))
    if not chain:
        raise CommandError("no certificate in the TLS answer"
                           + (" (timed out)" if done.timed_out else ""))
    return chain


def describe(pem: str) -> Cert:
    """One certificate's fields, by `openssl x509` (CommandError when it cannot read it)."""
    with tempfile.TemporaryDirectory(prefix="vrmonitor-cert-") as folder:
        path = os.path.join(folder, "cert.pem")
        with open(path, "w") as handle:
            handle.write(pem + "\n")
        done = run(["openssl", "x509", "-in", path, "-noout", "-nameopt", "RFC2253",
                    "-dateopt", "iso_8601", "-subject", "-issuer", "-subject_hash", "-issuer_hash",
                    "-startdate", "-enddate", "-fingerprint", "-sha256", "-ext", "subjectAltName"],
                   timeout=DEADLINE)
    text = done.stdout.decode("utf-8", "replace")
    if done.returncode != 0:
        raise CommandError(f"openssl x509 failed: {done.stderr.decode('utf-8', 'replace').strip()}")
    fields: dict[str, str] = {}
    hashes = []
    names: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if _HASH.fullmatch(stripped):
            hashes.append(stripped)
        elif stripped.startswith("DNS:") or ", DNS:" in stripped:
            names += [item.strip()[4:] for item in stripped.split(",") if item.strip().startswith("DNS:")]
        elif "=" in stripped:
            key, _, value = stripped.partition("=")
            fields.setdefault(key.strip(), value.strip())
    subject_hash, issuer_hash = (hashes + ["", ""])[:2]
    return Cert(fields.get("subject", ""), fields.get("issuer", ""), subject_hash, issuer_hash,
                _when(fields.get("notBefore", "")), _when(fields.get("notAfter", "")), tuple(names),
                fields.get("sha256 Fingerprint", ""))


def _when(text: str) -> float:
    try:
        return datetime.strptime(text, "%Y-%m-%d %H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()
    except ValueError:
        return math.nan


def _date(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, timezone.utc).strftime("%Y-%m-%d")


def expected_host(url_domain: str, public_ip: str | None, leaf: Cert) -> str | None:
    """The browser's host name for this VM (contract 10.5), None when it cannot be known."""
    dashed = public_ip.replace(".", "-") if public_ip else None
    if url_domain:
        if url_domain.startswith("*."):
            return f"{dashed}.{url_domain[2:]}" if dashed else None
        return url_domain
    for name in leaf.names:
        if name.startswith("*.") and dashed:
            return f"{dashed}.{name[2:]}"
    return None


def matches(host: str, name: str) -> bool:
    """Exact (case-insensitive), or `*` standing for exactly the left-most label."""
    host, name = host.lower().rstrip("."), name.lower().rstrip(".")
    if name.startswith("*."):
        label, _, rest = host.partition(".")
        return bool(label) and rest == name[2:]
    return host == name


def trusted(issuer_hash: str, trust: str) -> bool:
    """Whether the trust folder holds a certificate of that subject hash (`<hash>.<n>`)."""
    try:
        return any(entry.split(".")[0] == issuer_hash for entry in os.listdir(trust))
    except OSError:
        return False


def judge(paths: Paths, boot: BootArgs, limits: Thresholds, now: float | None = None,
          fetch=served_chain, reason=partial(tls_reason, timeout=DEADLINE),
          decode=describe) -> tuple[str, int]:
    now = time.time() if now is None else now
    points = endpoints(paths, boot)
    if not points:
        return SKIP, PASS
    trust = str(paths.under(TRUST_FOLDER))
    failures, warnings, leaves = [], [], {}
    for host, port in points:
        why = reason(host, port)
        if why is None:
            try:
                chain = [decode(pem) for pem in fetch(host, port)]
            except CommandError as exc:
                why = str(exc)
        if why is not None:
            failures.append(f"No TLS answer on port {port}: {why}")
            continue
        leaf = chain[0]
        leaves[port] = leaf
        days = math.floor((leaf.not_after - now) / 86400)
        if days <= 0:
            failures.append(f"Certificate {leaf.name} on port {port} expired on {_date(leaf.not_after)}")
        elif days < limits.min_days_left:
            warnings.append(f"Certificate {leaf.name} on port {port} expires in {days} days "
                            f"({_date(leaf.not_after)}), threshold {limits.min_days_left} days")
        for cert in chain[1:]:
            if not cert.not_before <= now < cert.not_after:
                failures.append(f"Certificate {cert.name} on port {port} expired on {_date(cert.not_after)}"
                                if now >= cert.not_after else
                                f"Certificate {cert.name} on port {port} is not valid before {_date(cert.not_before)}")
        served = {cert.subject_hash for cert in chain}
        for cert in chain:
            if cert.issuer_hash not in served and not trusted(cert.issuer_hash, trust):
                failures.append(f"Certificate chain on port {port} is incomplete: issuer {cert.issuer} "
                                f"of {cert.subject} not served and not trusted")
                break
        host_name = expected_host(limits.url_domain, boot.public_ip, leaf)
        if host_name is not None and not any(matches(host_name, name) for name in leaf.names):
            failures.append(f"Certificate on port {port} does not match hostname {host_name} "
                            f"(names: {', '.join(leaf.names) or 'none'})")
    if len({leaf.fingerprint for leaf in leaves.values()}) > 1:
        failures.append("Ports 443 and 8443 serve different certificates")
    if failures or warnings:
        code = FAIL_EXIT if failures and _enum(paths) else 1
        return "\n".join(warnings + failures), code
    leaf = next(iter(leaves.values()))
    ports = " and ".join(str(port) for port in leaves)
    days = math.floor((leaf.not_after - now) / 86400)
    host_name = expected_host(limits.url_domain, boot.public_ip, leaf)
    said = (f"hostname {host_name} matches" if host_name else "hostname not checked (URL domain unknown)")
    return (f"Certificate {leaf.name} on port{'s' if len(leaves) > 1 else ''} {ports} valid until "
            f"{_date(leaf.not_after)} ({days} days left), chain complete, {said}"), PASS


def _enum(paths: Paths) -> bool:
    """Whether results use the 4.22 vocabulary (then 2 = FAILED, 1 = WARNING)."""
    from vrmonitor.config.settings import load_settings

    try:
        return load_settings(paths.config_file).health.status_format == "enum"
    except ConfigError:
        return False


def main(argv: list[str], root: str) -> int:
    return on_roles(argv, root, KIND, CHECK_ROLES[NAME], judge)
