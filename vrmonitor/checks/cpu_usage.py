"""cpu_usage_check.py (basic): CPU usage against systemThresholds.maxCpuUsage (contract 3.5).

The reference read the idle percentage of the second `top -b -n2 -p 1` iteration, a 3 s sample.
Here psutil samples the same counters (/proc/stat) over SAMPLE_INTERVAL seconds. The usage is
100 minus the idle percentage, rounded to two decimals and printed as Python prints a float
(`1.7`, `12.35`), like the reference's `float("%.2f")`. It fails when the usage is strictly
above the threshold.
"""


import psutil

from vrmonitor.checks.usage import usage_check

KIND = "basic"
SAMPLE_INTERVAL = 0.5  # seconds between the two /proc/stat readings
SAMPLER = f"psutil.cpu_times_percent(interval={SAMPLE_INTERVAL})"


def cpu_usage(interval: float = SAMPLE_INTERVAL) -> float:
    """Percent of CPU time not idle over `interval` seconds, all CPUs, rounded to 2 decimals."""
    idle = psutil.cpu_times_percent(interval=interval).idle
    return float(f"{100 - idle:.2f}")


def main(argv: list[str], root: str, measure=cpu_usage) -> int:
    return usage_check(argv, root, KIND, "maxCpuUsage", "CPU", SAMPLER, measure)
