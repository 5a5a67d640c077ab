"""`vrmonitor status`: services, last health runs and the daemon itself.

Exit 0 all well, 1 something failing, 3 the daemon is not running (interface.md 5).
"""

from vrmonitor.cloudstack.cmdline_file import name_of, role_of
from vrmonitor.services.snapshot_shapes import DEFAULTS

EXIT_FAILING = 1
EXIT_NOT_RUNNING = 3


def add_arguments(parser):
    parser.add_argument("--json", action="store_true", help="print one JSON document")


class _Saved:
    """A service's entry of daemon.json read as a ServiceSnapshot would be (a key an older
    daemon did not write has its default), without that dataclass's import."""

    def __init__(self, saved: dict):
        self._saved = saved

    def __getattr__(self, key):
        if key not in DEFAULTS:
            raise AttributeError(key)
        return self._saved.get(key, DEFAULTS[key])


def run(args, context) -> int:
    import time

    from vrmonitor.cloudstack.cmdline_file import read_tokens
    from vrmonitor.health.history import read_history
    from vrmonitor.locations import HEALTH_HISTORY, under
    from vrmonitor.services.saved_state import read_daemon_state_under
    from vrmonitor.system.proc_stat import still_running

    # Files read by their locations under the root, not through Paths: no pathlib to import.
    # A damaged file is logged (stderr), set aside and shown as absent.
    state = read_daemon_state_under(context.root)
    running = False
    if state is not None and "pid" in state:
        running = still_running(state["pid"], state.get("started_ticks"))
    services = state.get("services", {}) if state is not None else {}
    typed = {name: _Saved(s) for name, s in services.items()}
    checks = read_history(under(context.root, HEALTH_HISTORY))
    boot = read_tokens(context.root)
    failing = sorted(name for name, s in typed.items() if s.state != "up")
    failing += sorted(name for name, runs in checks.items() if runs and runs[-1].get("status") != "pass")

    if args.json:
        import json

        print(json.dumps({"daemon": {"running": running, "pid": state.get("pid") if state else None,
                                     "init": state.get("init") if state else None,
                                     "updated": state.get("updated") if state else None},
                          "role": {"type": role_of(boot or {}), "name": name_of(boot or {})},
                          "services": services, "checks": checks, "failing": failing}, indent=1))
    else:
        _print_text(state, running, typed, time)
        print(_role_line(boot))
        _print_checks(checks, time)
    if not running:
        return EXIT_NOT_RUNNING
    return EXIT_FAILING if failing else 0


def _role_line(boot: dict[str, str] | None) -> str:
    """Which system VM this is, from /var/cache/cloud/cmdline (docs/system-vms.md); boot: its
    tokens, None when it could not be read."""
    role, name = role_of(boot or {}), name_of(boot or {})
    if role is None:
        why = "no type= in" if boot is not None else "no"
        return f"role: unknown ({why} /var/cache/cloud/cmdline)"
    return f"role: {role}" + (f" ({name})" if name else "")


def _print_text(state, running, services: dict, time) -> None:
    """services: name -> _Saved."""
    def when(seconds):
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds)) if seconds else "-"

    if running:
        print(f"daemon: running as PID {state['pid']} ({state.get('init')} init), "
              f"state of {when(state.get('updated'))}")
    elif state:
        print(f"daemon: NOT RUNNING (last state from PID {state.get('pid')} at {when(state.get('updated'))})")
    else:
        print("daemon: NOT RUNNING (no state: it has never run on this root)")
    if not services:
        print("services: none monitored (/etc/monitor.conf is empty or absent)")
        return
    rows = [("SERVICE", "STATE", "SINCE", "RESTARTS/1H", "LAST ACTION")]
    for name, s in services.items():
        action = s.last_action or "-"
        if s.last_outcome:
            action += f" -> {s.last_outcome}"
        shown = s.state + (" (recovering)" if s.recovering else "")
        shown += " (crash loop)" if s.crash_loop else ""
        shown += " (parked)" if s.parked else ""
        rows.append((f"{name} ({s.processname})", shown, when(s.since),
                     str(s.restarts_last_hour), action))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[4])
    for name, s in services.items():
        if s.state != "up":
            print(f"{name}: {s.reason}")
        if s.blocked:
            print(f"{name}: not restarted: {s.blocked}")


def _print_checks(checks: dict, time) -> None:
    if not checks:
        print("health checks: no results yet")
        return
    rows = [("CHECK", "LAST", "WHEN", "DURATION", "HISTORY (oldest first)")]
    for name, runs in sorted(checks.items()):
        last = runs[-1]
        rows.append((name, last.get("status", "?"),
                     time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(last.get("time", 0))),
                     f"{last.get('duration_ms', 0):.0f} ms", " ".join(r.get("status", "?") for r in runs)))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[4])
    for name, runs in sorted(checks.items()):
        if runs[-1].get("status") != "pass":
            print(f"{name}: {runs[-1].get('message', '')}")
