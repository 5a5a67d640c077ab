"""What every command receives besides its arguments."""

from vrmonitor.locations import CONFIG_FILE, under

TYPE_CHECKING = False  # typing's own flag would cost typing's import; mypy reads this one
if TYPE_CHECKING:
    from vrmonitor.paths import Paths


class Context:
    """root: the root folder, absolute; config_file: --config, else the root's vrmonitor.toml.

    `paths` is built on first use: a command that reads a few files by their locations
    (`status`) does not pay for pathlib and dataclasses."""

    def __init__(self, root: str, config: str | None = None):
        self.root = root
        self.config_file = config or under(root, CONFIG_FILE)
        self._paths: "Paths | None" = None

    @property
    def paths(self) -> "Paths":
        if self._paths is None:
            from vrmonitor.paths import Paths

            self._paths = Paths.from_option(self.root)
        return self._paths
