"""filesystem_writable_check.py on really read-only mounts (contract 3.7, scenario A12).

Each case runs the installed check in a private mount namespace (`unshare --mount`, private
propagation), where a small Python helper makes <root>/root a read-only bind mount and/or
mounts a read-only tmpfs on <root>/var/cache/cloud, then executes the check. Nothing is
mounted outside that namespace. Needs root (CI runs as root): without it the tests fail.
stdout and stderr are read apart (stderr must stay empty: the agent merges it into what the
management server reads), and stdout is then read by tests/ms_parsers.py's filesystem_writable.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import require_root
from tests.ms_parsers import AGENT_ENV, Answer, filesystem_writable
from vrmonitor.cli import main as cli_main

pytestmark = pytest.mark.root

ROOT_MESSAGE = ("Read-only file system : monitor results (/root) file system is mounted as "
                "read-only\n")
CACHE_MESSAGE = ("Read-only file system : config info (/var/cache/cloud) file system is mounted "
                 "as read-only\n")
# filesystem.writable.test as the management server records it
WRITABLE = (True, "Successfully written to file system")
READ_ONLY = (False, "Read-only file system")

# argv: check script, then what to make read-only ("root", "cache"), then the VM root.
HELPER = """
import os, subprocess, sys
script, choices, root = sys.argv[1], sys.argv[2].split(","), sys.argv[3]

def mount(*args):
    subprocess.run(["mount", *args], check=True)

if "root" in choices:
    folder = os.path.join(root, "root")
    mount("--bind", folder, folder)
    mount("-o", "remount,bind,ro", folder)
if "cache" in choices:
    folder = os.path.join(root, "var/cache/cloud")
    mount("-t", "tmpfs", "-o", "size=1m", "vrmonitor-test", folder)
    mount("-o", "remount,ro", folder)
os.chdir(os.path.join(root, "root"))
os.execv(script, [script])
"""




@pytest.fixture
def vm(tmp_path):
    require_root("the read-only file system tests", "they mount file systems in a private mount namespace")
    root = tmp_path / "vm"
    (root / "var/cache/cloud").mkdir(parents=True)
    (root / "root").mkdir()
    assert cli_main(["--root", str(root), "compat", "install"]) == 0
    return root


def check_with_read_only(root: Path, *choices: str) -> subprocess.CompletedProcess:
    script = str(root / "opt/cloud/bin/filesystem_writable_check.py")
    return subprocess.run(["unshare", "--mount", "--propagation", "private", sys.executable,
                           "-c", HELPER, script, ",".join(choices), str(root)],
                          stdin=subprocess.DEVNULL, capture_output=True, timeout=60, env=AGENT_ENV)


@pytest.mark.parametrize("choices, status, message, recorded", [
    ((), 0, "file system is writable\n", WRITABLE),
    (("root",), 1, ROOT_MESSAGE, READ_ONLY),
    (("cache",), 1, CACHE_MESSAGE, READ_ONLY),
    (("root", "cache"), 1, ROOT_MESSAGE, READ_ONLY),  # /root is examined first
])
def test_a12_read_only_mounts(vm, choices, status, message, recorded):
    done = check_with_read_only(vm, *choices)
    assert (done.returncode, done.stdout, done.stderr) == (status, message.encode(), b"")
    assert filesystem_writable(Answer.of(done.stdout, done.returncode)) == recorded
    # The mounts stayed in their namespace: here both folders are writable.
    for folder in ("root", "var/cache/cloud"):
        probe = vm / folder / "probe"
        probe.write_text("x")
        probe.unlink()
    assert not os.path.ismount(vm / "var/cache/cloud")


def test_a12_installed_check_outside_any_namespace(vm):
    script = vm / "opt/cloud/bin/filesystem_writable_check.py"
    done = subprocess.run([str(script)], stdin=subprocess.DEVNULL, capture_output=True,
                          cwd=vm / "root", env=AGENT_ENV, timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (0, b"file system is writable\n", b"")
    assert filesystem_writable(Answer.of(done.stdout, done.returncode)) == WRITABLE
