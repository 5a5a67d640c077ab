"""vrmonitor's log file as a logging handler that never complains."""

import logging


class LogFile(logging.FileHandler):
    """Appends to the log; a log that cannot be opened or written (read-only, full, absent
    folder) is silently skipped, since logging's default would print the failure on stderr
    (and the delayed open happens outside logging's own error handling)."""

    def emit(self, record):
        try:
            super().emit(record)
        except OSError:
            pass

    def handleError(self, record):  # noqa: N802 (logging's name)
        pass
