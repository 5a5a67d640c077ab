"""health_checks_data.json written by vrmonitor on the secondary storage and console proxy VMs.

On a router the management server writes /root/health_checks_data.json (contract 3.2). On the
SSVM and the CPVM it writes none (contract 10.1), so the daemon writes one from `[systemvm]` of
vrmonitor.toml, in the same shape: the schedule, the excluded checks, `systemThresholds` for the
CPU, memory and disk checks, and `systemVmThresholds` (contract 10.7: `minDaysLeft`,
`urlDomain`, `ioTimeout`, `dnsCheckName`, with `bootGrace`), the record a future management
server may send. Every reader (the daemon's schedule, monitorServices.py,
getRouterMonitorResults.sh true, `vrmonitor health run`) then sees one schedule.

A file vrmonitor did not write (it differs from the copy kept in the state folder) is a
management server's, and is left alone.
"""

import json
import logging

from vrmonitor.paths import Paths
from vrmonitor.system.files import atomic_write

LOG = logging.getLogger(__name__)


def render(section) -> str:
    """The file's text for a SystemVmSettings (as CsMonitor writes it: indent 4)."""
    thresholds = (f"minDiskNeeded={float(section.min_disk_needed)},"
                  f"maxCpuUsage={float(section.max_cpu_usage)},"
                  f"maxMemoryUsage={float(section.max_memory_usage)};")
    systemvm = (f"minDaysLeft={section.min_days_left},urlDomain={section.url_domain},"
                f"ioTimeout={section.io_timeout:g},dnsCheckName={section.dns_check_name},"
                f"bootGrace={section.boot_grace};")
    document = {
        "health_checks_basic_run_interval": section.basic_interval,
        "health_checks_advanced_run_interval": section.advanced_interval,
        "health_checks_enabled": section.health_checks_enabled,
        "excluded_health_checks": list(section.excluded_checks),
        "health_checks_config": {"systemThresholds": thresholds, "systemVmThresholds": systemvm},
    }
    return json.dumps(document, ensure_ascii=False, indent=4) + "\n"


def sync(paths: Paths, section) -> str:
    """Write the file from `section` unless someone else wrote it; say what was done."""
    target, copy = paths.health_checks_data, paths.local_health_data
    text = render(section)
    try:
        present = target.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        present = None
    except OSError as exc:
        return f"cannot read {target}: {exc.strerror or exc}"
    try:
        ours = copy.read_text(encoding="utf-8", errors="replace")
    except OSError:
        ours = None
    if present is not None and present != ours:
        return f"{target} was not written by vrmonitor: left as it is"
    if present == text:
        return f"{target} is up to date"
    try:
        atomic_write(copy, text)
        atomic_write(target, text)
    except OSError as exc:
        LOG.error("cannot write %s: %s", target, exc)
        return f"cannot write {target}: {exc.strerror or exc}"
    return f"{target} written from [systemvm]"
