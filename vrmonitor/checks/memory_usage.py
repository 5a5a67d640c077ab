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

from vrmonitor.checks.context import against_threshold
from vrmonitor.errors import CheckError

KIND = "basic"
SAMPLER = "psutil.virtual_memory() (total - available, as free's used)"


def memory_usage() -> float:
    """Used memory in percent of the total, as `free`'s used/total through awk's `%.6g`."""
    memory = psutil.virtual_memory()
    if memory.total <= 0:
        raise OSError(f"total memory is {memory.total}")
    return float("%.6g" % ((memory.total - memory.available) * 100 / memory.total))


def check(limit: float, usage: float) -> tuple[str, bool]:
    if usage > limit:
        return f"Memory Usage {usage}% has crossed threshold of {limit}%", False
    return f"Memory Usage within limits with current at {usage}%", True


def main(argv: list[str], root: str, measure=memory_usage) -> int:
    def sampled(paths) -> float:
        try:
            return measure()
        except (OSError, psutil.Error) as exc:
            reason = str(exc) or type(exc).__name__
            raise CheckError(f"Failed to retrieve memory usage using {SAMPLER}: {reason}") from exc

    return against_threshold(argv, root, KIND, "maxMemoryUsage", sampled, check)
