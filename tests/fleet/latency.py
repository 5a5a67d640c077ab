"""A service kill as the daemon noticed it and as Prometheus first sampled it.

The issue's bound (docs/monitoring.md): a kill is in Prometheus within one scrape interval + 2 s
of the daemon noticing it. The daemon's own record of noticing is its alert journal: the line
"... is not running trying recover" is written (with microseconds) on the loop's turn that
sees the exit, before the restart starts. Prometheus' record is the timestamp of the first
sample (a scrape's own time, in milliseconds) in which the kill shows: the restart counter above
its value before the kill, or the `up` state at 0. A restart quicker than a scrape interval never
shows the second; the counter always shows the first (or, while the service stays down, the
state does).
"""

import math
import time
from datetime import datetime

NOTICE = "is not running trying recover"
# Prometheus stamps a sample with the scrape's start, in whole milliseconds; node_exporter reads
# the file a few milliseconds later. A sample may thus carry a stamp slightly before the write
# (never before the kill by more than this: the values before the kill show nothing).
SCRAPE_SKEW = 0.1


def noticed(alerts: list[dict], after: float) -> float | None:
    """Unix time of the first alert (`vrmonitor alerts --format json` records) stamped at or
    after `after` that says a service was found not running; None before it is written."""
    for alert in alerts:
        stamp = datetime.fromisoformat(alert["time"]).timestamp()
        if stamp >= after and NOTICE in alert["message"]:
            return stamp
    return None


def first_sample(server, labels: dict[str, str], after: float, restarts_before: float) -> float | None:
    """Unix time of the first sample of the service `labels` select (one series per family),
    taken after the kill at `after`, that shows the kill; None while none does."""
    matchers = ",".join(f'{name}="{value}"' for name, value in sorted(labels.items()))
    window = f"{max(2, math.ceil(time.time() - after) + 2)}s"
    families = ((f"vrmonitor_service_restarts_total{{{matchers}}}[{window}]", lambda v: v > restarts_before),
                (f'vrmonitor_service_state{{{matchers},state="up"}}[{window}]', lambda v: v == 0))
    stamps = []
    for expr, shows in families:
        for series in server.api("query", query=expr)["result"]:
            stamps += [float(stamp) for stamp, value in series["values"]
                       if float(stamp) >= after - SCRAPE_SKEW and shows(float(value))]
    return min(stamps) if stamps else None
