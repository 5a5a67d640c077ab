"""memory_usage_check.py (basic): memory usage against systemThresholds.maxMemoryUsage
(contract 3.5).

The reference printed `free | awk 'FNR == 2 { print $3 * 100 / $2 }'`: the "used" column of the
`Mem:` line over its "total", which awk prints with its default format `%.6g` and the check
then printed as a Python float (`float("1.76311")` -> `1.76311`, `float("2")` -> `2.0`).

The value is the same here, without running `free`: Debian 12's procps (4.0.2, the templates
of CloudStack 4.20 and later) computes "used" as MemTotal - MemAvailable, and psutil's
virtual_memory() gives both (`total`, `available`, from /proc/meminfo). (procps 3.3.x, on
older templates, subtracted free, buffers and cache instead; psutil's own `used` field follows
neither version exactly, so it is not used.) It fails when the usage is strictly above the
threshold.
"""

import psutil

from vrmonitor.checks.usage import usage_check

KIND = "basic"
SAMPLER = "psutil.virtual_memory() (total - available, as free's used)"


def memory_usage() -> float:
    """Used memory in percent of the total, as `free`'s used/total through awk's `%.6g`."""
    memory = psutil.virtual_memory()
    if memory.total <= 0:
        raise OSError(f"total memory is {memory.total}")
    return float("%.6g" % ((memory.total - memory.available) * 100 / memory.total))


def main(argv: list[str], root: str, measure=memory_usage) -> int:
    return usage_check(argv, root, KIND, "maxMemoryUsage", "Memory", SAMPLER, measure)
