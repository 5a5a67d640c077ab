"""The command-line skeleton: help, version, both ways to start it, light start-up."""

import subprocess
import sys
from pathlib import Path

import pytest

from vrmonitor import __version__
from vrmonitor.cli import main
from vrmonitor.commands import COMMANDS

PROJECT = Path(__file__).resolve().parents[2]
SCRIPT = PROJECT / "bin" / "vrmonitor"


def run_cli(*args: str, env_root: str | None = None) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(PROJECT)}
    if env_root:
        env["VRMONITOR_ROOT"] = env_root
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env,
                          cwd=PROJECT)


@pytest.mark.parametrize("how", [["-m", "vrmonitor"], [str(SCRIPT)]])
def test_version_through_module_and_script(how):
    done = run_cli(*how, "--version")
    assert (done.returncode, done.stdout, done.stderr) == (0, f"vrmonitor {__version__}\n", "")


def test_version_imports_no_heavy_library():
    probe = ("import sys\nfrom vrmonitor.cli import main\n"
             "try:\n    main(['--version'])\nexcept SystemExit:\n    pass\n"
             "heavy = {'psutil', 'scapy', 'jsonschema', 'netifaces', 'daemon'}\n"
             "print(sorted(heavy.intersection(m.split('.')[0] for m in sys.modules)))")
    done = run_cli("-c", probe)
    assert done.stdout.splitlines()[-1] == "[]"


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exited:
        main([command, "--help"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: vrmonitor {command}")


def test_no_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exited:
        main([])
    assert exited.value.code == 2
    assert "the following arguments are required: COMMAND" in capsys.readouterr().err


def test_unknown_command_is_a_usage_error_naming_it(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["bogus"])
    assert exited.value.code == 2
    assert "invalid choice: 'bogus'" in capsys.readouterr().err


def test_root_comes_from_the_option_then_the_environment(tmp_path, monkeypatch):
    from vrmonitor.paths import Paths

    monkeypatch.setenv("VRMONITOR_ROOT", str(tmp_path / "env"))
    assert Paths.from_option(None).root == tmp_path / "env"
    assert Paths.from_option(str(tmp_path / "opt")).root == tmp_path / "opt"
    monkeypatch.delenv("VRMONITOR_ROOT")
    assert Paths.from_option(None).root == Path("/")


def test_contract_paths_are_relocated_under_the_root(tmp_path):
    from vrmonitor.paths import Paths

    paths = Paths.from_option(str(tmp_path))
    assert paths.monitor_conf == tmp_path / "etc/monitor.conf"
    assert paths.alert_log == tmp_path / "var/log/routerServiceMonitor.log"
    assert paths.results_file("basic") == tmp_path / "root/basic_monitor_results.json"
    assert paths.failing_file("advanced") == tmp_path / "root/advanced_failing_health_checks"
    assert paths.run_dir == tmp_path / "run/vrmonitor"
    assert paths.config_file == tmp_path / "etc/vrmonitor/vrmonitor.toml"
    assert paths.under("/etc/hosts") == tmp_path / "etc/hosts"


def test_the_daemon_does_not_load_scapy():
    probe = ("import sys\nimport vrmonitor.daemon.composition, vrmonitor.commands.run\n"
             "print(sorted(m for m in sys.modules if m.split('.')[0] == 'scapy'))")
    assert run_cli("-c", probe).stdout.splitlines()[-1] == "[]"


def test_a_refused_file_operation_is_one_line_naming_the_file(tmp_path, capsys):
    log = tmp_path / "var/log/routerServiceMonitor.log"
    log.mkdir(parents=True)  # a folder where the alert log must be: the write is refused
    assert main(["--root", str(tmp_path), "raise-alert", "dnsmasq", "down"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"vrmonitor: {log}: Is a directory\n"


@pytest.mark.parametrize("argv", [["status"], ["status", "--json"], ["--root", "/tmp/vm", "status"],
                                  ["--root", "/tmp/vm", "status", "--json"], ["--root", "", "status"],
                                  ["--root", "status", "status"]])
def test_status_parsed_without_argparse_as_argparse_parses_it(argv):
    from vrmonitor.cli import build_parser, command_parser, status_line

    options = build_parser().parse_args(argv)
    parser, _ = command_parser(options.command)
    assert vars(status_line(argv)) == vars(parser.parse_args(options.arguments, namespace=options))


@pytest.mark.parametrize("argv", [["status", "-h"], ["--root=/x", "status"], ["-v", "status"],
                                  ["--root", "-x", "status"], ["status", "--json", "--json"],
                                  ["--config", "c", "status"], ["status", "--js"], ["health", "basic"]])
def test_any_other_command_line_is_argparse_s(argv):
    from vrmonitor.cli import status_line

    assert status_line(argv) is None
