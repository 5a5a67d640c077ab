"""Executable fakes of commands the test machines cannot run for real."""

import json
import sys
from dataclasses import dataclass
from pathlib import Path

FAKES = Path(__file__).resolve().parent


@dataclass(frozen=True)
class FakeSystemctl:
    bin_dir: Path
    units_file: Path
    calls_file: Path

    @property
    def env(self) -> dict[str, str]:
        """The variables the fake reads; put bin_dir first on PATH as well."""
        return {"FAKE_SYSTEMCTL_UNITS": str(self.units_file),
                "FAKE_SYSTEMCTL_CALLS": str(self.calls_file)}

    def set_units(self, units: dict) -> None:
        self.units_file.write_text(json.dumps(units))

    def calls(self) -> list[list[str]]:
        """Each call's arguments, without argv[0], oldest first."""
        if not self.calls_file.exists():
            return []
        return [json.loads(line) for line in self.calls_file.read_text().splitlines()]


def install_systemctl(directory: Path, units: dict) -> FakeSystemctl:
    """Write the fake as `directory`/bin/systemctl, run by this interpreter, with `units`."""
    bin_dir = directory / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    source = (FAKES / "systemctl").read_text().split("\n", 1)[1]
    executable = bin_dir / "systemctl"
    executable.write_text(f"#!{sys.executable}\n{source}")
    executable.chmod(0o755)
    fake = FakeSystemctl(bin_dir, directory / "units.json", directory / "calls.jsonl")
    fake.set_units(units)
    return fake
