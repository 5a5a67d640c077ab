"""docs/benchmarks.md's merge (tests/bench/report.py): a run of `make bench` or `make fleet`
replaces only its own generated part, between its markers; every other line stays byte for byte."""

import pytest

from tests.bench.report import ReportLayoutError, Row, markdown, markers, replace_generated, write_generated

BEGIN, END = markers("make bench")
FLEET_BEGIN, FLEET_END = markers("make fleet")

HAND_WRITTEN = """\
## Entry points the server and cron call

Written by hand: figures of one suite, with what they cost a router a day.

| call | calls a day |
|---|---|
| getRouterAlerts.sh | 48 |
"""

OLD_TABLE = """\
| benchmark | figure | baseline | ratio | goal | met | note |
|---|---|---|---|---|---|---|
| an old row | 2 s | 1 s | 2 | <= 3 | yes |  |
"""


def report(table: str) -> str:
    return (f"# Benchmarks\n\n{BEGIN}\n{table}{END}\n\n{HAND_WRITTEN}\n"
            f"{FLEET_BEGIN}\n## Prometheus fleet\n\nthe fleet's table\n{FLEET_END}\n\nA closing note.\n")


def test_a_run_replaces_its_table_and_keeps_the_hand_written_and_the_other_tools_sections(tmp_path):
    path = tmp_path / "benchmarks.md"
    path.write_text(report(OLD_TABLE))
    table = markdown([Row("start-up: vrmonitor --version vs python3 -c pass", 0.02, 0.01, "s", "<= 3")])
    write_generated(path, "make bench", table)
    assert path.read_text() == report(table)
    assert "an old row" not in path.read_text()
    assert "| start-up: vrmonitor --version vs python3 -c pass | 0.02 s | 0.01 s | 2 | <= 3 | yes |  |\n" in table


def test_the_fleet_replaces_only_its_own_section(tmp_path):
    path = tmp_path / "benchmarks.md"
    path.write_text(report(OLD_TABLE))
    write_generated(path, "make fleet", "## Prometheus fleet\n\nnew figures\n")
    assert path.read_text() == report(OLD_TABLE).replace("the fleet's table\n", "new figures\n")


def test_a_second_run_gives_the_same_file():
    once = replace_generated(report(OLD_TABLE), "make bench", "the table\n")
    assert replace_generated(once, "make bench", "the table\n") == once


def test_a_report_without_markers_gets_the_part_appended_and_keeps_its_text():
    assert replace_generated("# Benchmarks\n\nBy hand.", "make fleet", "## Prometheus fleet\n") == (
        f"# Benchmarks\n\nBy hand.\n\n{FLEET_BEGIN}\n## Prometheus fleet\n{FLEET_END}\n")


def test_an_absent_report_is_created(tmp_path):
    path = tmp_path / "benchmarks.md"
    write_generated(path, "make bench", "the table\n")
    assert path.read_text() == f"# Benchmarks\n\n{BEGIN}\nthe table\n{END}\n"


@pytest.mark.parametrize("text, found", [
    (f"{BEGIN}\nx\n", "found 1 and 0"),
    (f"x\n{END}\n", "found 0 and 1"),
    (f"{BEGIN}\n{END}\n{BEGIN}\n{END}\n", "found 2 and 2"),
    (f"{END}\nx\n{BEGIN}\n", "found 1 and 1 in the wrong order"),
])
def test_broken_markers_are_named_with_the_file_and_nothing_is_written(tmp_path, text, found):
    path = tmp_path / "benchmarks.md"
    path.write_text(text)
    with pytest.raises(ReportLayoutError) as raised:
        write_generated(path, "make bench", "the table\n")
    assert str(raised.value) == (f"{path}: expected the line {BEGIN!r} once, then {END!r} once; {found}")
    assert path.read_text() == text
    assert list(tmp_path.iterdir()) == [path]
