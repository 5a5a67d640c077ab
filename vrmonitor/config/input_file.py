"""Reading an input file (vrmonitor.toml, monitor.conf, health_checks_data.json): absence is a
normal state with its own meaning, any other failure is a ConfigError naming the file."""

from vrmonitor.errors import ConfigError


def read_input_file(path, source: str, when_absent: str) -> bytes | None:
    """The file's bytes; None when it does not exist (logged at debug level with `when_absent`,
    what its absence means). Raises ConfigError naming `source` when it cannot be read."""
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        import logging  # here: an entry point reading a file that is there must not pay for it

        logging.getLogger(__name__).debug("%s: absent, %s", source, when_absent)
        return None
    except OSError as exc:
        raise ConfigError(source, [f"{source}: cannot read: {exc.strerror or exc}"]) from exc
