"""The service entries of a basic run's results file (contract 3.4), from the monitor's state.

The reference re-checked every service inside the basic run and slept up to 9 s for each down
one. vrmonitor's monitor already knows: a basic run reads its state file instead.
"""

RUNNING = "service is running"
RESTARTED = "service is running, was restarted"


def success_value(ok: bool, status_format: str) -> str:
    """`success` as the management server's version parses it (contract 3.9)."""
    if status_format == "enum":
        return "SUCCESS" if ok else "FAILED"
    return "true" if ok else "false"


def service_entries(services: dict, run_start: float, previous_run: float | None,
                    status_format: str = "legacy") -> tuple[dict, list[str]]:
    """(entries keyed `<section>.service`, failing names) for a basic run starting at `run_start`.

    services: the monitor's snapshot (daemon.json "services"); previous_run: wall time of the
    previous basic run, to say "was restarted" once for a restart since then.
    """
    entries, failing = {}, []
    started_ms = str(int(run_start * 1000))
    for section, state in services.items():
        name = f"{section}.service"
        up = state.get("state") == "up"
        restarted = state.get("restarted_at") or 0
        if up:
            message = RESTARTED if previous_run is not None and restarted > previous_run else RUNNING
        else:
            message = f"service down at last check {int(run_start)}"
            failing.append(name)
        entries[name] = {"success": success_value(up, status_format), "lastUpdate": started_ms,
                         "lastRunDuration": "0.0", "message": message}
    return entries, failing
