"""One benchmark row, the timing helper every benchmark uses, and the table they make."""

import platform
import os
import statistics
import subprocess
import time
from dataclasses import dataclass
from typing import Sequence


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
        "# Benchmarks",
        "",
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
