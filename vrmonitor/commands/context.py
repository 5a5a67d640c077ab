"""What every command receives besides its arguments."""

from dataclasses import dataclass

from vrmonitor.paths import Paths


@dataclass(frozen=True)
class Context:
    paths: Paths
    config_file: str
