"""/proc/PID/stat read, and whether a recorded process still runs: what cron's hand-off to the
daemon and `vrmonitor status` ask of a PID, without identity.py's imports."""


def stat_fields(pid: int) -> tuple[str, str, int, int] | None:
    """(comm, state, ppid, start ticks) of /proc/PID/stat, zombies included; None when there is
    no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            text = handle.read().decode("utf-8", "replace")
    except (FileNotFoundError, ProcessLookupError):
        return None
    # comm is in parentheses and may itself hold ") ": the last one ends it.
    head, _, tail = text.rpartition(")")
    fields = tail.split()
    return head.partition("(")[2], fields[0], int(fields[1]), int(fields[19])


def still_running(pid, start_ticks) -> bool:
    """Whether the process recorded as (`pid`, `start_ticks`), e.g. in a state file, still runs
    (not a zombie): the same PID and start ticks, which is all identify() would compare."""
    if not isinstance(pid, int) or not isinstance(start_ticks, int):
        return False
    fields = stat_fields(pid)
    return fields is not None and fields[1] != "Z" and fields[3] == start_ticks
