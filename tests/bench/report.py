"""One benchmark row, the timing helper every benchmark uses, the table they make, and how a
run's generated part goes into docs/benchmarks.md without touching the rest of it."""

import platform
import os
import statistics
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

BENCHMARKS = Path(__file__).resolve().parents[2] / "docs" / "benchmarks.md"


@dataclass(frozen=True)
class Row:
    name: str
    figure: float
    baseline: float
    unit: str
    goal: str  # e.g. "<= 3": the ratio figure/baseline must satisfy it
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.figure / self.baseline if self.baseline else float("inf")

    @property
    def met(self) -> bool:
        operator, bound = self.goal.split()
        return self.ratio <= float(bound) if operator == "<=" else self.ratio >= float(bound)


def median_wall(argv: Sequence[str], runs: int, env: dict | None = None, cwd: str | None = None) -> float:
    """Median wall time in seconds of `argv` over `runs` runs, after one warm-up run."""
    times = []
    for i in range(runs + 1):
        started = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, env=env, cwd=cwd)
        if i:
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def markdown(rows: list[Row]) -> str:
    lines = [
        "Made by `make bench`. Each figure is measured against a baseline in the same run; the",
        "goal is on the ratio (figure / baseline), never on absolute time.",
        "",
        f"Machine: {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}.",
        "",
        "| benchmark | figure | baseline | ratio | goal | met | note |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(f"| {row.name} | {row.figure:.4g} {row.unit} | {row.baseline:.4g} {row.unit} "
                     f"| {row.ratio:.3g} | {row.goal} | {'yes' if row.met else 'NO'} | {row.note} |")
    return "\n".join(lines) + "\n"


# docs/benchmarks.md holds what several tools write (`make bench`'s table, `make fleet`'s section)
# and what people wrote by hand around them. Each tool owns only the lines between its two
# markers (HTML comments: invisible once rendered) and a run replaces those alone.

class ReportLayoutError(ValueError):
    pass


def markers(owner: str) -> tuple[str, str]:
    return (f"<!-- {owner}: generated part begins; a run replaces everything up to its end marker -->",
            f"<!-- {owner}: generated part ends -->")


def replace_generated(text: str, owner: str, generated: str) -> str:
    """`text` with the lines between `owner`'s markers replaced by `generated`; every other line
    is kept as it was. Without the markers the part (with them) is appended at the end.
    ReportLayoutError when the markers are there but not once each, begin before end."""
    begin, end = markers(owner)
    lines = text.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if line.rstrip("\n") == begin]
    ends = [i for i, line in enumerate(lines) if line.rstrip("\n") == end]
    block = [begin + "\n", generated if generated.endswith("\n") else generated + "\n", end + "\n"]
    if not starts and not ends:
        head = text if not text or text.endswith("\n") else text + "\n"
        return head + ("\n" if head else "") + "".join(block)
    if len(starts) != 1 or len(ends) != 1 or starts[0] > ends[0]:
        raise ReportLayoutError(
            f"expected the line {begin!r} once, then {end!r} once; found {len(starts)} and {len(ends)}"
            + (" in the wrong order" if len(starts) == len(ends) == 1 else ""))
    return "".join(lines[:starts[0]] + block + lines[ends[0] + 1:])


def check_layout(path: Path, owner: str) -> None:
    """ReportLayoutError (naming the file) unless `owner`'s part can be written into `path`."""
    _merged(path, owner, "")


def write_generated(path: Path, owner: str, generated: str) -> None:
    """Put `owner`'s generated part into the report at `path` (created when absent), keeping
    the rest of the file. ReportLayoutError names the file when its markers are broken."""
    merged = _merged(path, owner, generated)
    temporary = path.with_name(path.name + ".new")
    temporary.write_text(merged, encoding="utf-8")
    temporary.replace(path)


def _merged(path: Path, owner: str, generated: str) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = "# Benchmarks\n"
    try:
        return replace_generated(text, owner, generated)
    except ReportLayoutError as exc:
        raise ReportLayoutError(f"{path}: {exc}") from None
