"""The management server's parsers, re-expressed from cloudstack-contract.md, for contract tests.

Each function takes what a VM script printed and returns what the management server would make
of it, failing the way the Java code fails.
"""

import re
from datetime import datetime


def router_alerts(details: str) -> tuple[list[str], str | None]:
    """VirtualRoutingResource + getRouterAlerts() (contract 2.5): alerts and the stored timestamp.

    Java's String.split drops trailing empty strings; a timestamp that SimpleDateFormat
    (non-lenient) rejects drops the whole batch.
    """
    text = details.strip()
    if not text or text == "No Alerts":
        return [], None
    alerts = re.split(r"\\n", text)
    while alerts and alerts[-1] == "":
        alerts.pop()
    timestamp = alerts[-1].split(",")[0]
    try:
        datetime.strptime(timestamp, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        raise AssertionError(f"MS drops the batch: bad timestamp {timestamp!r}") from None
    return alerts, timestamp
