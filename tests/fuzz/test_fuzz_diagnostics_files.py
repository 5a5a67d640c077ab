"""get_diagnostics_files.py's items (contract 5.2) through collect(), what the entry point calls.

A temporary root holds a few files and an empty /opt/cloud/bin; beside the root (outside it)
are a secret file and an executable script. Items try path traversal (`../`, `[../x]`,
symlinks leading out), shell metacharacters and damaged names. Whatever the items: nothing
is run (an audit hook records and blocks every process start), nothing from outside the root
is stored, and the zip is created directly in the root's /root.
"""

import os
import re
import zipfile

import pytest
from hypothesis import example, given, strategies as st

from tests.fuzz import exec_recorder
from tests.fuzz.hang_guard import no_hang
from tests.fuzz.mutations import TEXT_CHARACTERS
from vrmonitor.diagnostics.collect import KEYWORDS, collect
from vrmonitor.paths import Paths
from vrmonitor.config.settings import DiagnosticsSettings

pytestmark = [pytest.mark.fuzz]

SECRET = f"secret-{os.getpid()}"
ZIP_NAME = re.compile(r"diagnostics_files_\d{8}-\d{6}(-\d+)?\.zip")
HOSTILE = st.sampled_from((
    "../outside/secret", "../../outside/secret", "/../outside/secret", "/etc/../../outside/secret",
    "/etc/escape", "/etc/escape_abs", "escape_home", "[../outside/evil.sh]", "[../../outside/evil.sh]",
    "[/outside/evil.sh]", "[evil.sh; touch x]", "[$(touch x)]", "[`touch x`]", "[a|b]", "[a && b]",
    "[../../../../bin/sh -c id]", "[]", "[x]", "[ ]", "[[iptables]]", "[iptables ]", "[.]", "[..]",
    "/etc/hosts", "/etc/hosts/", "/etc//hosts", "/etc/./hosts", "/dev/zero", "/proc/self/environ",
    "/etc", "/", ".", "..", "~", "~/x", "*", "/etc/*", "-rf", "\\", "[\\]", "/etc/hosts\x00x",
)) | st.text(TEXT_CHARACTERS, max_size=12) | st.builds(
    lambda parts: "/".join(parts), st.lists(st.sampled_from(("..", ".", "", "outside", "secret",
                                                             "etc", "hosts", "opt", "cloud", "bin")),
                                            max_size=6)) | st.builds(lambda inner: f"[{inner}]",
                                                                     st.text(TEXT_CHARACTERS, max_size=10))


@pytest.fixture(scope="module")
def recorder():
    return exec_recorder.install()


@pytest.fixture(scope="module")
def paths(tmp_path_factory):
    base = tmp_path_factory.mktemp("diagnostics-files")
    outside = base / "outside"
    outside.mkdir()
    (outside / "secret").write_text(SECRET)
    evil = outside / "evil.sh"
    evil.write_text(f"#!/bin/sh\ntouch {outside}/ran\n")
    evil.chmod(0o755)
    root = base / "root"
    for folder in ("etc", "opt/cloud/bin", "root"):
        (root / folder).mkdir(parents=True)
    (root / "etc" / "hosts").write_text("127.0.0.1 localhost\n")
    (root / "etc" / "escape").symlink_to("../../outside/secret")
    (root / "etc" / "escape_abs").symlink_to(outside / "secret")
    (root / "root" / "escape_home").symlink_to("../../outside/secret")
    return Paths(root)


@given(st.lists(HOSTILE.filter(lambda item: item.strip() not in KEYWORDS
                               and item.strip()[1:-1] not in KEYWORDS), max_size=6))
@example(["../outside/secret", "[../outside/evil.sh]", "/etc/escape", "/etc/hosts"])
@example(["[evil.sh; touch x]", "[$(touch x)]", "/etc/escape_abs", "escape_home"])
def test_hostile_items_run_nothing_and_read_nothing_outside_the_root(recorder, paths, items):
    items = [item.replace("\x00", "") for item in items]
    with recorder.watching(), no_hang(30, "collect"):
        target = collect(paths, items, DiagnosticsSettings(command_timeout=5))
    try:
        assert recorder.events == []
        assert target.parent == paths.under("/root") and ZIP_NAME.fullmatch(target.name)
        with zipfile.ZipFile(target) as archive:
            for member in archive.namelist():
                assert "/" not in member and member not in ("", ".", "..")
                assert SECRET.encode() not in archive.read(member), member
            assert "fileinfo.txt" in archive.namelist()
    finally:
        target.unlink()
    assert not (paths.root.parent / "outside" / "ran").exists()
    assert sorted(p.name for p in paths.under("/root").iterdir()) == ["escape_home"]
