"""The one exception hierarchy; the CLI translates it into messages and exit codes."""


class VrMonitorError(Exception):
    """Base of every error vrmonitor raises on purpose."""


class ConfigError(VrMonitorError):
    """A configuration or input file is missing, unreadable or invalid.

    `problems` holds one line per problem, each naming the file and the path of the value.
    """

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = list(problems)
        super().__init__("\n".join(self.problems) or source)


class CommandError(VrMonitorError):
    """A command vrmonitor runs could not be started."""


class CheckError(VrMonitorError):
    """A health check could not be run."""


class DiagnosticError(VrMonitorError):
    """A diagnostics request is invalid or failed."""
