"""`vrmonitor compat install`: entry points written under the root, executable, bound to it."""

import stat
import subprocess
import sys

from vrmonitor.cli import main


def test_install_writes_executables_bound_to_the_root_and_replaces_what_stands(tmp_path, capsys):
    target = tmp_path / "opt/cloud/bin/getRouterAlerts.sh"
    target.parent.mkdir(parents=True)
    target.write_text("#!/bin/sh\necho old reference script\n")
    assert main(["--root", str(tmp_path), "compat", "install"]) == 0
    assert str(target) in capsys.readouterr().out.splitlines()
    assert stat.S_IMODE(target.stat().st_mode) == 0o755
    text = target.read_text()
    assert text.startswith(f"#!{sys.executable}\n")
    assert f"root={str(tmp_path)!r}" in text
    # Runs with no environment at all, from any folder, as sshd would start it.
    done = subprocess.run([str(target), "1970-01-01", "00:00:00"], capture_output=True,
                          text=True, env={}, cwd="/")
    assert (done.returncode, done.stdout, done.stderr) == (0, "No Alerts\n", "")
