"""What each entry point the management server (or cron) calls costs, against a baseline.

Figures are CPU time (user + system) of the process and everything it waited for, from
os.wait4, median over RUNS calls after one warm-up, figure and baseline called in turn. The
router-like root has the compat entry points installed and a real daemon running on it
(`vrmonitor run --foreground`, nothing to watch, health runs on the default schedule with six
shell checks, two of them failing), so the results files, the published answers and the
hand-off of cron's runs are the daemon's. Twenty alerts are written by `vrmonitor raise-alert`
and delivered once, as the management server's first poll would get them. Each answer's bytes
are checked against the Python entry point's before it is timed.

Peak RSS is GNU time's %M of the same calls (the largest process of the call: sh, stat, cat or
Python), median of RSS_RUNS, against `python3 -c pass`. It is taken by `time`, a small parent:
a process's peak RSS counts the memory of the process it was forked from (the kernel records
the old image's high-water mark at exec), so measured from this Python process every call
would show at least this process's own size.
"""

import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.bench.alerts import REFERENCE
from tests.bench.report import Row
from vrmonitor.compat.install import install
from vrmonitor.health.answer import compose
from vrmonitor.paths import Paths

PROJECT = Path(__file__).resolve().parents[2]
ENV = {"PYTHONPATH": str(PROJECT), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
RUNS = 41
RSS_RUNS = 11
ALERTS = 20
CHECKS = 6

# Contract 3.6's answer from the same four files with printf and cat, as the reference script
# prints it (its `echo $(cat ...)` replaced by cat and a newline: the same files, no word splitting).
SHELL_RESULTS = r'''
cd "$1"
printf 'FAILING CHECKS:\n'
if [ -f basic_failing_health_checks ]; then cat basic_failing_health_checks; echo; fi
if [ -f advanced_failing_health_checks ]; then cat advanced_failing_health_checks; echo; fi
printf 'MONITOR RESULTS:\n{"basic":\n'
if [ -f basic_monitor_results.json ]; then cat basic_monitor_results.json; echo; else echo '{}'; fi
printf ',"advanced":\n'
if [ -f advanced_monitor_results.json ]; then cat advanced_monitor_results.json; echo; else echo '{}'; fi
printf '}\n'
'''


def cost(argv: list[str], env: dict | None = None) -> float:
    """CPU seconds of one call, stdout and stderr to /dev/null (what it prints is checked
    once, before the timing)."""
    actions = [(os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
               (os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0),
               (os.POSIX_SPAWN_OPEN, 2, "/dev/null", os.O_WRONLY, 0)]
    pid = os.posix_spawn(argv[0], argv, env if env is not None else ENV, file_actions=actions)
    _, _, usage = os.wait4(pid, 0)
    return usage.ru_utime + usage.ru_stime


def peak_rss(argv: list[str], folder: Path) -> int:
    """Peak RSS in KiB of one call, as GNU time reports it."""
    report = folder / "rss"
    subprocess.run(["/usr/bin/time", "-f", "%M", "-o", str(report), *argv], env=ENV, cwd="/",
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return int(report.read_text().split()[-1])


def compared(figure: list[str], baseline: list[str]) -> tuple[float, float]:
    """Median CPU of figure and baseline, called in turn."""
    cpu: dict[str, list[float]] = {"figure": [], "baseline": []}
    for i in range(RUNS + 1):
        for name, argv in (("baseline", baseline), ("figure", figure)):
            sample = cost(argv)
            if i:
                cpu[name].append(sample)
    return statistics.median(cpu["figure"]), statistics.median(cpu["baseline"])


def median_rss(argv: list[str], folder: Path) -> int:
    return int(statistics.median(peak_rss(argv, folder) for _ in range(RSS_RUNS)))


def output(argv: list[str], status: int = 0) -> bytes:
    """stdout of a call that must exit with `status` and print nothing on stderr."""
    done = subprocess.run(argv, capture_output=True, env=ENV, cwd="/", timeout=60)
    assert (done.returncode, done.stderr) == (status, b""), done
    return done.stdout


def build_root(root: Path) -> None:
    for folder in ("", "root", "root/health_checks", "etc", "etc/vrmonitor", "opt", "opt/cloud",
                   "opt/cloud/bin", "var", "var/log", "var/cache", "var/cache/cloud", "run"):
        (root / folder).mkdir(mode=0o755, exist_ok=True)
    (root / "etc/monitor.conf").write_text("")
    install(Paths(root))
    for builtin in (root / "root/health_checks").glob("*_check.py"):
        builtin.unlink()  # they would judge this machine's services; six shell checks instead
    for number in range(CHECKS):
        check = root / f"root/health_checks/check{number}.sh"
        fails = number in (1, 4)
        check.write_text(f"#!/bin/sh\necho 'check {number} {'failed' if fails else 'fine'}'\n"
                         f"exit {1 if fails else 0}\n")
        check.chmod(0o755)
    (root / "root/health_checks_data.json").write_text(json.dumps({
        "health_checks_basic_run_interval": 3, "health_checks_advanced_run_interval": 10,
        "health_checks_enabled": True, "excluded_health_checks": [], "health_checks_config": {}}))


def wait_for(condition, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.1)


def run() -> list[Row]:
    python = sys.executable
    folder = Path(tempfile.mkdtemp(prefix="vrmonitor-bench-entry-"))
    root = folder / "vm"
    paths = Paths(root)
    build_root(root)
    daemon = subprocess.Popen([python, "-m", "vrmonitor", "--root", str(root), "run", "--foreground"],
                              env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd="/")
    try:
        wait_for(lambda: all(paths.results_file(kind).exists() for kind in ("basic", "advanced"))
                 and paths.results_answer.exists(), "the daemon's first runs")
        time.sleep(1)
        return measure(root, paths, python)
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=30)
        shutil.rmtree(folder, ignore_errors=True)


def measure(root: Path, paths: Paths, python: str) -> list[Row]:
    bin_dir = paths.under("/opt/cloud/bin")
    results = str(bin_dir / "getRouterMonitorResults.sh")
    alerts = str(bin_dir / "getRouterAlerts.sh")
    writable = str(bin_dir / "filesystem_writable_check.py")
    monitor = str(paths.under("/root/monitorServices.py"))
    vrmonitor = str(PROJECT / "bin" / "vrmonitor")
    bare = [python, "-c", "pass"]
    rows = []
    rss: list[tuple[str, int]] = []

    def row(short, name, figure, baseline, goal, note=""):
        cpu_figure, cpu_baseline = compared(figure, baseline)
        rows.append(Row(name, cpu_figure, cpu_baseline, "s", goal, note))
        rss.append((short, median_rss(figure, root.parent)))

    # getRouterMonitorResults.sh false basic: the published answer, byte for byte composed's.
    assert output([results, "false", "basic"]) == compose(paths).encode("utf-8")
    shell = ["/bin/bash", "-c", SHELL_RESULTS, "reference", str(paths.vm_home)]
    assert output(shell) == compose(paths).encode("utf-8")  # the same bytes: a fair baseline
    row("getRouterMonitorResults.sh false basic",
        "getRouterMonitorResults.sh false basic vs printf + cat of the same files (bash, contract 3.6)",
        [results, "false", "basic"], shell, "<= 1.5",
        "CPU, median of 41; the installed sh serves the answer the daemon's run published")

    # getRouterAlerts.sh: 20 alerts, the first poll delivers them all.
    for number in range(ALERTS):
        subprocess.run([python, "-m", "vrmonitor", "--root", str(root), "raise-alert", "haproxy",
                        f"recover failed {number}"], env=ENV, check=True, cwd="/")
    first = output([alerts, "1970-01-01", "00:00:00"]).decode()
    assert first.count("\\n") == ALERTS, first
    newest = first.split("\\n")[-2].split(",")[0].split()
    assert output([alerts, *newest]) == b"No Alerts\n"
    row("getRouterAlerts.sh, the newest timestamp",
        f"getRouterAlerts.sh, {ALERTS} alerts, the newest timestamp given (the server's next poll) "
        "vs python3 -c pass", [alerts, *newest], bare, "<= 2",
        "answer `No Alerts`; CPU, median of 41")
    later = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(time.time() + 60)).split()
    assert output([alerts, *later]) == b"No Alerts\n"
    reference = ["/bin/bash", "-c", REFERENCE, "reference", *later, str(paths.alert_log)]
    row("getRouterAlerts.sh, none newer",
        f"getRouterAlerts.sh, {ALERTS} alerts, none newer than a timestamp it never answered, vs "
        "contract 2.5's algorithm", [alerts, *later], reference, "<= 1",
        "the reference: tac, one date per line until one is not newer; CPU, median of 41")

    assert output([writable]) == b"file system is writable\n"
    row("filesystem_writable_check.py", "filesystem_writable_check.py vs python3 -c pass",
        [writable], bare, "<= 2")

    stamp = paths.results_file("basic").stat().st_mtime_ns
    output([python, monitor, "basic"])
    assert paths.results_file("basic").stat().st_mtime_ns == stamp, "the run was not handed off"
    row("monitorServices.py basic", "monitorServices.py basic (handed to the daemon) vs python3 -c pass",
        [python, monitor, "basic"], bare, "<= 2", "as cron runs it: /usr/bin/python3 /root/monitorServices.py")

    status = [vrmonitor, "--root", str(root), "status"]
    assert b"daemon: running" in output(status, status=1)  # two checks fail: exit 1
    row("vrmonitor status", "vrmonitor status vs python3 -c pass", status, bare, "<= 2",
        "daemon running, two checks failing")
    assert output([vrmonitor, "--version"]).startswith(b"vrmonitor ")
    row("vrmonitor --version", "vrmonitor --version vs python3 -c pass", [vrmonitor, "--version"],
        bare, "<= 1.3")

    bare_rss = median_rss(bare, root.parent)
    for name, figure in rss:
        rows.append(Row(f"peak RSS: {name} vs python3 -c pass", figure / 1024, bare_rss / 1024,
                        "MB", "<= 2", f"GNU time %M, median of {RSS_RUNS}"))
    return rows
