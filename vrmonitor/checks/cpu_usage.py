"""cpu_usage_check.py (basic): CPU usage against systemThresholds.maxCpuUsage (contract 3.5).

The reference read the idle percentage of the second `top -b -n2 -p 1` iteration, a 3 s sample.
Here psutil samples the same counters (/proc/stat) over SAMPLE_INTERVAL seconds. The usage is
100 minus the idle percentage, rounded to two decimals and printed as Python prints a float
(`1.7`, `12.35`), like the reference's `float("%.2f")`. It fails when the usage is strictly
above the threshold.
"""


import psutil

from vrmonitor.checks.context import against_threshold
from vrmonitor.errors import CheckError

KIND = "basic"
SAMPLE_INTERVAL = 0.5  # seconds between the two /proc/stat readings
SAMPLER = f"psutil.cpu_times_percent(interval={SAMPLE_INTERVAL})"


def cpu_usage(interval: float = SAMPLE_INTERVAL) -> float:
    """Percent of CPU time not idle over `interval` seconds, all CPUs, rounded to 2 decimals."""
    idle = psutil.cpu_times_percent(interval=interval).idle
    return float(f"{100 - idle:.2f}")


def check(limit: float, usage: float) -> tuple[str, bool]:
    if usage > limit:
        return f"CPU Usage {usage}% has crossed threshold of {limit}%", False
    return f"CPU Usage within limits with current at {usage}%", True


def main(argv: list[str], root: str, measure=cpu_usage) -> int:
    def sampled(paths) -> float:
        try:
            return measure()
        except (OSError, psutil.Error) as exc:
            reason = str(exc) or type(exc).__name__
            raise CheckError(f"Failed to retrieve cpu usage using {SAMPLER}: {reason}") from exc

    return against_threshold(argv, root, KIND, "maxCpuUsage", sampled, check)
