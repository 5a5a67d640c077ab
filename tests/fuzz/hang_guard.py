"""A hang guard for one fuzz example: SIGALRM interrupts a parser that does not return.

Hypothesis' deadline reports a slow example only once it has finished; a parser stuck in a
loop would stall the whole run instead. Main thread only (signals are delivered there).
"""

import signal
from contextlib import contextmanager


class Hang(AssertionError):
    """The parser did not return within the guard's time."""


@contextmanager
def no_hang(seconds: float, what: str):
    def interrupt(signum, frame):
        raise Hang(f"{what} did not return within {seconds} s")

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
