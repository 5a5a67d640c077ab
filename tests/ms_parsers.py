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


def health_results(details: str) -> tuple[list[str], dict]:
    """VirtualRoutingResource.parseLinesForHealthChecks (contract 3.6): failing checks, results.

    Lines are trimmed; a line containing FAILING CHECKS / MONITOR RESULTS switches mode; failing
    lines are split on commas; result lines are concatenated without a separator and parsed as
    Map<String, Map<String, Map<String, String>>> (every leaf a string, else the parse fails).
    """
    import json

    text = details.strip()
    if not text:
        raise AssertionError("MS: No results available.")
    failing, results, mode = [], "", None
    for line in (part.strip() for part in text.split("\n")):
        if "FAILING CHECKS" in line:
            mode = "failing"
        elif "MONITOR RESULTS" in line:
            mode = "results"
        elif mode == "failing":
            failing.extend(name.strip() for name in line.split(",") if name.strip())
        elif mode == "results":
            results += line
    parsed = json.loads(results)
    for kind, checks in parsed.items():
        assert isinstance(checks, dict), f"{kind} is not an object"
        for name, fields in checks.items():
            assert isinstance(fields, dict), f"{kind}.{name} is not an object"
            for key, value in fields.items():
                assert isinstance(value, str), f"Gson fails: {kind}.{name}.{key} = {value!r}"
    return failing, parsed
