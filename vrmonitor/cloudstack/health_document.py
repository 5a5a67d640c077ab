"""`/root/health_checks_data.json` read as JSON, and its run intervals' defaults: what a reader
of a single key needs (cron's hand-off to the daemon, the built-in checks), without the
validation of the whole file in health_data.py."""

from vrmonitor.config.input_file import read_input_file
from vrmonitor.errors import ConfigError
from vrmonitor.system.json_text import loads

CONTRACT_PATH = "/root/health_checks_data.json"
# Minutes between runs when the key is absent, as the reference writer has it (0: not scheduled).
DEFAULT_INTERVALS = {"basic": 3, "advanced": 0}


def read_document(path, source: str = CONTRACT_PATH):
    """The decoded JSON of the file, None when it is missing; ConfigError when unreadable."""
    data = read_input_file(path, source, "health checks disabled")
    if data is None:
        return None
    try:
        return loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(source, [f"{source}: invalid JSON: not UTF-8 (byte {exc.start})"]) from exc
    except RecursionError as exc:
        raise ConfigError(source, [f"{source}: invalid JSON: nested too deeply"]) from exc
    except ValueError as exc:
        import json  # imported already: its errors come from json.loads

        if isinstance(exc, json.JSONDecodeError):
            raise ConfigError(source, [
                f"{source}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"]) from exc
        raise ConfigError(source, [f"{source}: invalid JSON: {exc}"]) from exc  # > 4300 digits
