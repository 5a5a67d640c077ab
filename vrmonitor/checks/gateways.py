"""gateways_check.py (basic): every gateway of the router answers ping (contract 3.5).

The gateways are the space-separated addresses of `gatewaysIps` (one record; a trailing space
is normal). Each is sent up to ATTEMPTS ICMP echo requests, one per TIMEOUT seconds, all
gateways at once, by vrmonitor.diagnostics.icmp (no `ping` binary): a run takes at most
ATTEMPTS x TIMEOUT seconds whatever the number of gateways. The reference ran
`ping <gw> -c 5 -w 10` up to 5 times per gateway, one gateway after the other.

Fixed against the reference: <n> in the pass message is the number of gateways (the reference
printed the number of records, always 1); no data is a skip (its guard `None and len()` was
inverted and crashed); a failure adds a third line saying, per unreachable gateway, what was
expected and what happened. On the BACKUP router of a redundant pair the gateways are not
reachable by design (its public interfaces are down), so the check skips with a message there
(CloudStack issue #4163; see vrmonitor.checks.redundancy for where the state comes from).
"""

from ipaddress import IPv4Address

from vrmonitor.checks.context import CheckInputs, answer, applies, unreadable
from vrmonitor.checks.redundancy import BACKUP, router_state
from vrmonitor.errors import ConfigError
from vrmonitor.paths import Paths

KIND = "basic"
ATTEMPTS = 3
TIMEOUT = 1.0  # seconds per attempt
BACKUP_SKIP = ("Router is BACKUP in a redundant pair, its gateways are reachable from the "
               "PRIMARY only, skipping")


def gateways(records: list[dict[str, str]] | None) -> list[str]:
    """The distinct addresses of every gatewaysIps record, in order."""
    found: dict[str, None] = {}
    for record in records or []:
        for address in record.get("gatewaysIps", "").split():
            found.setdefault(address, None)
    return list(found)


def _is_ipv4(text: str) -> bool:
    try:
        IPv4Address(text)
    except ValueError:
        return False
    return True


def ping_all(addresses: list[str]) -> dict[str, str | None]:
    """address -> None when it answered, else why not (raises OSError without a raw socket)."""
    from vrmonitor.diagnostics.icmp import echo

    outcomes = echo(addresses, attempts=ATTEMPTS, timeout=TIMEOUT) if addresses else {}
    reasons: dict[str, str | None] = {}
    for address, outcome in outcomes.items():
        if outcome.reachable:
            reasons[address] = None
        elif outcome.error:
            reasons[address] = outcome.error
        else:
            reasons[address] = f"no echo reply to {outcome.sent} requests of {TIMEOUT:g} s each"
    return reasons


def check(addresses: list[str], ping=ping_all) -> tuple[str, bool]:
    valid = [address for address in addresses if _is_ipv4(address)]
    reasons = {address: "not an IPv4 address" for address in addresses if address not in valid}
    reasons.update(ping(valid))
    unreachable = [address for address in addresses if reasons[address] is not None]
    if not unreachable:
        return f"All {len(addresses)} gateways are reachable via ping", True
    detail = "; ".join(f"{address}: {reasons[address]}" for address in unreachable)
    return (f"Unreachable gateways found-\n{unreachable!r}\n"
            f"expected an echo reply from each gateway; {detail}"), False


def main(argv: list[str], root: str, ping=ping_all) -> int:
    if not applies(argv, KIND):
        return 0
    paths = Paths.from_option(root)
    try:
        addresses = gateways(CheckInputs(paths).records("gateways"))
    except ConfigError as exc:
        return unreadable(exc.problems)
    if not addresses:
        return answer("No gateways data available, skipping", ok=True)
    if router_state(paths) == BACKUP:
        return answer(BACKUP_SKIP, ok=True)
    try:
        message, ok = check(addresses, ping)
    except OSError as exc:
        return answer(f"Failed to ping the gateways {addresses!r}: cannot send ICMP echo "
                      f"requests: {exc.strerror or exc}", ok=False)
    return answer(message, ok)
