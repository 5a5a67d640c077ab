"""What the CPU and memory checks share: a psutil sample in percent against a
systemThresholds maximum, failing when strictly above it (contract 3.5)."""

from typing import Callable

import psutil

from vrmonitor.checks.context import against_threshold
from vrmonitor.errors import CheckError


def usage_check(argv: list[str], root: str, kind: str, key: str, label: str, sampler: str,
                measure: Callable[[], float]) -> int:
    """label: "CPU" or "Memory", as the messages name it; sampler: how the value is taken,
    for the failure message."""
    def sampled(paths) -> float:
        try:
            return measure()
        except (OSError, psutil.Error) as exc:
            reason = str(exc) or type(exc).__name__
            raise CheckError(f"Failed to retrieve {label.lower()} usage using {sampler}: {reason}") from exc

    def judge(limit: float, usage: float) -> tuple[str, bool]:
        if usage > limit:
            return f"{label} Usage {usage}% has crossed threshold of {limit}%", False
        return f"{label} Usage within limits with current at {usage}%", True

    return against_threshold(argv, root, kind, key, sampled, judge)
