"""What the checks of the secondary storage VM and the console proxy VM share (contract 10.7).

Each such check runs only on its roles: on any other role, or when the role is unknown, it
prints nothing and exits 0 (no entry). Its inputs are the boot arguments, the VM's own files and
the `systemVmThresholds` record of health_checks_data.json (which vrmonitor writes from
[systemvm] of vrmonitor.toml; a future management server may send it). Every probe has a
deadline.
"""

import math
import os
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Callable

from vrmonitor.checks.context import CheckInputs, answer, applies, unreadable
from vrmonitor.cloudstack.cmdline import BootArgs, read_cmdline
from vrmonitor.errors import CheckError, ConfigError
from vrmonitor.paths import Paths

BOOTING = "System VM still booting, skipping"
CONNECT_TIMEOUT = 3.0  # seconds, every TCP reachability probe


@dataclass(frozen=True)
class Thresholds:
    """systemVmThresholds, with the contract's defaults for what is absent."""

    min_days_left: int = 30
    url_domain: str = ""
    io_timeout: float = 10.0
    dns_check_name: str = "cloudstack.apache.org"
    boot_grace: float = 300.0


_NUMBERS = {"minDaysLeft": ("min_days_left", int), "ioTimeout": ("io_timeout", float),
            "bootGrace": ("boot_grace", float)}
_TEXTS = {"urlDomain": "url_domain", "dnsCheckName": "dns_check_name"}


def thresholds(paths: Paths) -> Thresholds:
    """The record's values; ConfigError (naming the key and value) for a value that is no number."""
    records = CheckInputs(paths).records("systemVmThresholds") or [{}]
    values: dict = {}
    for key, (field, kind) in _NUMBERS.items():
        if key not in records[0]:
            continue
        text = records[0][key]
        try:
            number = kind(float(text)) if kind is int else float(text)
        except (ValueError, OverflowError):
            number = math.nan
        if math.isnan(number) or number < 0:
            raise ConfigError("systemVmThresholds", [
                f"Invalid {key} in health_checks_data systemVmThresholds: expected a number "
                f"of 0 or more, found {text!r}"])
        values[field] = number
    for key, field in _TEXTS.items():
        if key in records[0]:
            values[field] = records[0][key]
    return Thresholds(**values)


def still_booting(paths: Paths, grace: float, now: float | None = None) -> bool:
    """Until boot_up_done exists and is `grace` seconds old (contract 10.7)."""
    try:
        done = os.stat(paths.boot_up_done).st_mtime
    except OSError:
        return True
    return (time.time() if now is None else now) - done < grace


def on_roles(argv: list[str], root: str, kind: str, roles: tuple[str, ...],
             judge: Callable[[Paths, BootArgs, Thresholds], tuple[str, bool] | tuple[str, int]],
             wait_for_boot: bool = False) -> int:
    """The body of a system VM check: silent on other roles; judge -> (message, ok or exit code).

    judge raises CheckError for what it cannot read (the message is the error's)."""
    if not applies(argv, kind):
        return 0
    paths = Paths.from_option(root)
    boot = read_cmdline(paths)
    if boot.role not in roles:
        return 0
    try:
        limits = thresholds(paths)
    except ConfigError as exc:
        return unreadable(exc.problems)
    if wait_for_boot and still_booting(paths, limits.boot_grace):
        return answer(BOOTING, ok=True)
    try:
        message, outcome = judge(paths, boot, limits)
    except CheckError as exc:
        return answer(str(exc), ok=False)
    if isinstance(outcome, bool):
        return answer(message, outcome)
    answer(message, ok=outcome == 0)
    return outcome


def failure_reason(exc: OSError, timeout: float, tls: str = "TLS handshake failed") -> str:
    """Why a connection (or the TLS over it) failed, as the checks' messages say it."""
    if isinstance(exc, socket.timeout):
        return f"no answer within {timeout:g} s"
    if isinstance(exc, ssl.SSLError):
        return f"{tls}: {exc.reason or exc}"
    return exc.strerror or str(exc)


def tcp_reason(host: str, port: int, timeout: float = CONNECT_TIMEOUT) -> str | None:
    """None when a TCP connection to host:port opens within `timeout`, else why not."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as exc:
        return failure_reason(exc, timeout)


def tls_reason(host: str, port: int, timeout: float = CONNECT_TIMEOUT) -> str | None:
    """None when a TLS handshake with host:port completes (the certificate is not verified
    here), else why not."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw:
            with context.wrap_socket(raw):
                return None
    except OSError as exc:
        return failure_reason(exc, timeout)


def reach_lines(hosts: list[str], port: int, label: Callable[[str], str],
                reason=tcp_reason) -> list[str]:
    """`<label> reachable` / `<label> unreachable: <reason>` per host, probed at once."""
    from concurrent.futures import ThreadPoolExecutor

    if not hosts:
        return []
    with ThreadPoolExecutor(max_workers=min(8, len(hosts))) as pool:
        reasons = list(pool.map(lambda host: reason(host, port), hosts))
    return [f"{label(host)} reachable" if why is None else f"{label(host)} unreachable: {why}"
            for host, why in zip(hosts, reasons)]
