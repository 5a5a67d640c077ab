"""`vrmonitor validate-config`: one line per file when valid, one line per problem when not."""

import json
import os
import subprocess
import sys
from pathlib import Path

from vrmonitor.cli import main

REPO = Path(__file__).resolve().parents[2]

GOOD_TOML = "[health]\ntimeout = 20\n"
GOOD_MONITOR_CONF = "[ssh]\nprocessname=sshd\nservicename=ssh\npidfile=/var/run/sshd.pid\n"
GOOD_HEALTH_DATA = json.dumps({"health_checks_enabled": True, "health_checks_config": {}})


def make_root(tmp_path, toml=None, monitor_conf=None, health_data=None):
    for relative, content in (("etc/vrmonitor/vrmonitor.toml", toml),
                              ("etc/monitor.conf", monitor_conf),
                              ("root/health_checks_data.json", health_data)):
        if content is not None:
            path = tmp_path / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
    return tmp_path


def snapshot(root):
    return {str(path): (path.stat().st_mtime_ns, path.read_bytes() if path.is_file() else None)
            for path in sorted(root.rglob("*"))}


def validate(capsys, root, *extra):
    code = main(["--root", str(root), *extra, "validate-config"])
    out, err = capsys.readouterr()
    return code, out.splitlines(), err.splitlines()


def test_empty_root_everything_absent(tmp_path, capsys):
    code, out, err = validate(capsys, tmp_path)
    assert (code, err) == (0, [])
    assert out == [
        f"{tmp_path}/etc/vrmonitor/vrmonitor.toml: absent, defaults apply",
        "/etc/monitor.conf: absent, no services",
        "/root/health_checks_data.json: absent, health checks disabled",
    ]


def test_all_valid(tmp_path, capsys):
    root = make_root(tmp_path, GOOD_TOML, GOOD_MONITOR_CONF, GOOD_HEALTH_DATA)
    code, out, err = validate(capsys, root)
    assert (code, err) == (0, [])
    assert out == [
        f"{tmp_path}/etc/vrmonitor/vrmonitor.toml: ok",
        "/etc/monitor.conf: ok",
        "/root/health_checks_data.json: ok",
    ]


def test_root_from_the_environment(tmp_path, capsys, monkeypatch):
    make_root(tmp_path, GOOD_TOML)
    monkeypatch.setenv("VRMONITOR_ROOT", str(tmp_path))
    assert main(["validate-config"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == f"{tmp_path}/etc/vrmonitor/vrmonitor.toml: ok"


def test_config_option_names_the_file_given(tmp_path, capsys):
    other = tmp_path / "other.toml"
    other.write_text("[health]\ntimeout = 0\n")
    code, out, err = validate(capsys, tmp_path, "--config", str(other))
    assert code == 2
    assert err == [f"{other}: health.timeout: 0 is less than or equal to the minimum of 0"]
    assert out == ["/etc/monitor.conf: absent, no services",
                   "/root/health_checks_data.json: absent, health checks disabled"]


def test_bad_toml_is_reported_and_the_other_files_still_checked(tmp_path, capsys):
    root = make_root(tmp_path, "[health]\ntimeout = -1\ntiemout = 3\n[services]\nverify_interval = 'x'\n",
                     GOOD_MONITOR_CONF, GOOD_HEALTH_DATA)
    code, out, err = validate(capsys, root)
    toml = f"{tmp_path}/etc/vrmonitor/vrmonitor.toml"
    assert code == 2
    assert err == [
        f"{toml}: health.tiemout: unknown key",
        f"{toml}: health.timeout: -1 is less than or equal to the minimum of 0",
        f"{toml}: services.verify_interval: 'x' is not of type 'number'",
    ]
    assert out == ["/etc/monitor.conf: ok", "/root/health_checks_data.json: ok"]


def test_invalid_toml(tmp_path, capsys):
    root = make_root(tmp_path, "[health]\ntimeout = = 3\n")
    code, out, err = validate(capsys, root)
    assert code == 2
    assert err == [f"{tmp_path}/etc/vrmonitor/vrmonitor.toml: invalid TOML: "
                   f"Invalid value (at line 2, column 11)"]
    assert len(out) == 2 and not any("vrmonitor.toml" in line for line in out)


def test_every_problem_in_every_file(tmp_path, capsys):
    root = make_root(
        tmp_path, "[alerts]\nbackups = 0\n[export]\nprometheus = 'yes'\n",
        "garbage\n[dhcp]\nservicename=dnsmasq\npidfile=/d.pid\n[ssh]\nprocessname=sshd\n",
        '{"health_checks_enabled": "yes", "health_checks_config": {"virtualMachines": 5}}')
    code, out, err = validate(capsys, root)
    toml = f"{tmp_path}/etc/vrmonitor/vrmonitor.toml"
    assert (code, out) == (2, [])
    assert err == [
        f"{toml}: alerts.backups: 0 is less than the minimum of 1",
        f"{toml}: export.prometheus: 'yes' is not one of ['auto', 'on', 'off']",
        "/etc/monitor.conf: line 1: 'garbage' is neither a [section] nor a key=value line; ignored",
        "/etc/monitor.conf: [dhcp].processname: missing; service skipped",
        "/etc/monitor.conf: [ssh].pidfile: missing",
        "/etc/monitor.conf: [ssh].servicename: missing",
        "/root/health_checks_data.json: health_checks_config.virtualMachines: 5 is not of type 'string'",
        "/root/health_checks_data.json: health_checks_enabled: 'yes' is not of type 'boolean'",
    ]


def test_truncated_health_data(tmp_path, capsys):
    root = make_root(tmp_path, health_data='{"health_checks_enabled": true, "excluded_health')
    code, out, err = validate(capsys, root)
    assert code == 2
    assert err == ["/root/health_checks_data.json: invalid JSON at line 1 column 33: "
                   "Unterminated string starting at"]
    assert out[-1] == "/etc/monitor.conf: absent, no services"


def test_nothing_is_written(tmp_path, capsys):
    root = make_root(tmp_path, "[health]\ntimeout = -1\n", "[ssh]\n", "[]")
    before = snapshot(root)
    assert validate(capsys, root)[0] == 2
    assert snapshot(root) == before
    good = make_root(tmp_path / "good", GOOD_TOML, GOOD_MONITOR_CONF, GOOD_HEALTH_DATA)
    before = snapshot(good)
    assert validate(capsys, good)[0] == 0
    assert snapshot(good) == before


def test_as_a_real_process(tmp_path):
    root = make_root(tmp_path, "[health]\ntimeout = true\n", GOOD_MONITOR_CONF,
                     '{"health_checks_basic_run_interval": false}')
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("VRMONITOR_ROOT", None)
    done = subprocess.run([sys.executable, "-m", "vrmonitor", "--root", str(root), "validate-config"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stdout == "/etc/monitor.conf: ok\n"
    assert done.stderr == (
        f"{root}/etc/vrmonitor/vrmonitor.toml: health.timeout: True is not of type 'number'\n"
        "/root/health_checks_data.json: health_checks_basic_run_interval: False is not of type 'integer'\n")


def test_as_a_real_process_all_valid(tmp_path):
    root = make_root(tmp_path, GOOD_TOML, GOOD_MONITOR_CONF, GOOD_HEALTH_DATA)
    env = dict(os.environ, VRMONITOR_ROOT=str(root), PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, "-m", "vrmonitor", "validate-config"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == (f"{root}/etc/vrmonitor/vrmonitor.toml: ok\n"
                           "/etc/monitor.conf: ok\n/root/health_checks_data.json: ok\n")
