"""health-history.json: each check's last results, for `vrmonitor status` and the Prometheus
export. Its shape, and its reading as untrusted input (a damaged file is set aside; the next
health run writes a new one)."""

from __future__ import annotations

from vrmonitor.system import state_file as sf

TYPE_CHECKING = False  # typing's own flag would cost typing's import; mypy reads this one
if TYPE_CHECKING:
    from pathlib import Path

RESULT = sf.record(time=sf.number(), status=sf.text, duration_ms=sf.number(), message=sf.text)
# Runs are written oldest first, never an empty list: readers take the last one.
HISTORY = sf.table(sf.list_of(RESULT, min_items=1))


def read_history(path: str | Path) -> dict:
    """{check name: [runs, oldest first]}; {} when absent or damaged."""
    history = sf.load(path, HISTORY)
    return history if history is not None else {}
