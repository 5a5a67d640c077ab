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
    # The polled scripts are sh serving a published answer, else this interpreter's entry point.
    assert text.startswith("#!/bin/sh\n")
    assert f"exec {sys.executable} -P -c " in text
    assert f"root={str(tmp_path)!r}".replace("'", "'\"'\"'") in text
    other = (tmp_path / "opt/cloud/bin/diagnostics.py").read_text()
    assert other.startswith(f"#!{sys.executable}\n")
    assert f"root={str(tmp_path)!r}" in other
    # Runs with no environment at all, from any folder, as sshd would start it.
    done = subprocess.run([str(target), "1970-01-01", "00:00:00"], capture_output=True,
                          text=True, env={}, cwd="/")
    assert (done.returncode, done.stdout, done.stderr) == (0, "No Alerts\n", "")


def installed(root) -> dict[str, str]:
    """Every file under `root`, relative path -> text."""
    return {str(path.relative_to(root)): path.read_text()
            for path in sorted(root.rglob("*")) if path.is_file()}


def test_the_pinned_form_with_root_after_install(tmp_path, capsys):
    """interface.md §2 pins `vrmonitor compat install --root DIR`; it means the global --root."""
    after, before = tmp_path / "after", tmp_path / "before"
    assert main(["compat", "install", "--root", str(after)]) == 0
    printed_after = capsys.readouterr().out
    assert main(["--root", str(before), "compat", "install"]) == 0
    printed_before = capsys.readouterr().out
    assert printed_after.replace(str(after), "ROOT") == printed_before.replace(str(before), "ROOT")
    assert {name: text.replace(str(after), "ROOT") for name, text in installed(after).items()} == \
        {name: text.replace(str(before), "ROOT") for name, text in installed(before).items()}
    assert "opt/cloud/bin/getRouterAlerts.sh" in installed(after)


def test_both_roots_given_must_agree(tmp_path, capsys):
    assert main(["--root", str(tmp_path), "compat", "install", "--root", str(tmp_path)]) == 0
    capsys.readouterr()
    other = tmp_path / "other"
    assert main(["--root", str(tmp_path), "compat", "install", "--root", str(other)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (f"vrmonitor compat install: --root {other} differs from the global --root "
                   f"{tmp_path}; give one\n")
    assert not other.exists()
