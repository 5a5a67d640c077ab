"""The one polling wait of the test suite."""

import time
from collections.abc import Callable
from typing import Any


def wait_for(condition: Callable[[], Any], what: str, within: float = 20.0, *, step: float = 0.01,
             alive: Callable[[], object] | None = None) -> Any:
    """The first truthy value of `condition()`, polled every `step` s for up to `within` s.

    `alive`, when given, is called after each miss: it raises when whatever the test waits on
    has died, so the failure names the death rather than a timeout. Short steps, because the
    fault tests wait for states (a service up between two crashes) that last only moments.
    """
    end = time.monotonic() + within
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        if alive is not None:
            alive()
        time.sleep(step)
    raise AssertionError(f"not within {within} s: {what}")
