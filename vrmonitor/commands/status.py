"""`vrmonitor status`: services, last health runs and the daemon itself.

Exit 0 all well, 1 something failing, 3 the daemon is not running (interface.md 5).
"""

EXIT_FAILING = 1
EXIT_NOT_RUNNING = 3


def add_arguments(parser):
    parser.add_argument("--json", action="store_true", help="print one JSON document")


def run(args, context) -> int:
    import json
    import time

    from vrmonitor.health.history import read_history
    from vrmonitor.services.saved_state import read_daemon_state
    from vrmonitor.system.identity import still_running

    # A damaged file is logged (stderr), set aside and shown as absent.
    state = read_daemon_state(context.paths)
    running = False
    if state is not None and "pid" in state:
        running = still_running(state["pid"], state.get("started_ticks"))
    services = state.get("services", {}) if state is not None else {}
    checks = read_history(context.paths.health_history)
    failing = sorted(name for name, s in services.items() if s.get("state") != "up")
    failing += sorted(name for name, runs in checks.items() if runs and runs[-1].get("status") != "pass")

    if args.json:
        print(json.dumps({"daemon": {"running": running, "pid": state.get("pid") if state else None,
                                     "init": state.get("init") if state else None,
                                     "updated": state.get("updated") if state else None},
                          "services": services, "checks": checks, "failing": failing}, indent=1))
    else:
        _print_text(state, running, services, time)
        _print_checks(checks, time)
    if not running:
        return EXIT_NOT_RUNNING
    return EXIT_FAILING if failing else 0


def _print_text(state, running, services, time) -> None:
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
        action = s.get("last_action") or "-"
        if s.get("last_outcome"):
            action += f" -> {s['last_outcome']}"
        shown = s.get("state", "?") + (" (recovering)" if s.get("recovering") else "")
        shown += " (crash loop)" if s.get("crash_loop") else ""
        shown += " (parked)" if s.get("parked") else ""
        rows.append((f"{name} ({s.get('processname')})", shown, when(s.get("since")),
                     str(s.get("restarts_last_hour", 0)), action))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[4])
    for name, s in services.items():
        if s.get("state") != "up":
            print(f"{name}: {s.get('reason')}")
        if s.get("blocked"):
            print(f"{name}: not restarted: {s['blocked']}")


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
