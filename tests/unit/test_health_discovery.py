"""Health-check discovery (contract 3.3) and the trust policy (interface.md section 5).

Each test builds a VM root in a temporary folder, mode 0755 and owned by root: the trust walk
stops at that root, so the world-writable /tmp above it does not matter. The tests need root
(CI runs as root) to own those folders and to chown files to another user; without it they
fail with a message rather than skip.
"""

import os
from pathlib import Path

import pytest

from vrmonitor.health.discovery import Check, discover

OTHER_UID = 1000


@pytest.fixture
def vm_root(tmp_path) -> Path:
    """A VM root with /root/health_checks, every folder owned by root and mode 0755."""
    if os.geteuid() != 0:
        pytest.fail("the health-check trust tests need root: they own their folders as root "
                    "and chown files to another user (CI runs as root)")
    root = tmp_path / "vm"
    for folder in (root, root / "root", root / "root/health_checks"):
        folder.mkdir()
        os.chmod(folder, 0o755)
    return root


def checks_dir(root: Path) -> Path:
    return root / "root/health_checks"


def script(path: Path, body: str = "echo ok\n", mode: int = 0o755) -> Path:
    path.write_text("#!/bin/sh\n" + body)
    os.chmod(path, mode)
    return path


def found(root: Path, excluded=(), trust="strict") -> tuple[list[Check], str | None]:
    return discover(checks_dir(root), excluded, trust, root)


def test_executable_regular_files_only_sorted_by_name(vm_root):
    folder = checks_dir(vm_root)
    script(folder / "b.sh")
    script(folder / "a.py")
    script(folder / "notes.txt", mode=0o644)
    (folder / "utility").mkdir(mode=0o755)
    script(folder / "utility/helper.sh")
    os.mkfifo(folder / "pipe", 0o755)
    (folder / "dangling").symlink_to(folder / "nowhere")
    checks, problem = found(vm_root)
    assert problem is None
    assert checks == [Check("a.py", (folder / "a.py").resolve(), None),
                      Check("b.sh", (folder / "b.sh").resolve(), None)]


def test_excluded_names_are_left_out_entirely(vm_root):
    folder = checks_dir(vm_root)
    script(folder / "gateways_check.py")
    script(folder / "x.sh")
    checks, _ = found(vm_root, excluded=["gateways_check.py", "gateways"])
    assert [check.name for check in checks] == ["x.sh"]


def test_exclusion_is_an_exact_match(vm_root):
    script(checks_dir(vm_root) / "x.sh")
    checks, _ = found(vm_root, excluded=["x", "X.sh", "x.sh "])
    assert [check.name for check in checks] == ["x.sh"]


def test_missing_folder_is_a_problem_naming_the_contract_path(vm_root):
    checks_dir(vm_root).rmdir()
    assert found(vm_root) == ([], "health checks folder /root/health_checks is missing")


def test_folder_that_is_a_file_is_a_problem(vm_root):
    checks_dir(vm_root).rmdir()
    checks_dir(vm_root).write_text("")
    assert found(vm_root) == ([], "health checks folder /root/health_checks is not a folder")


def test_empty_folder(vm_root):
    assert found(vm_root) == ([], None)


def test_world_writable_script_is_refused(vm_root):
    script(checks_dir(vm_root) / "x.sh", mode=0o777)
    (check,), _ = found(vm_root)
    assert check.refused == "not run: /root/health_checks/x.sh is writable by group or others (mode 0777)"


def test_group_writable_script_is_refused(vm_root):
    script(checks_dir(vm_root) / "x.sh", mode=0o775)
    (check,), _ = found(vm_root)
    assert check.refused == "not run: /root/health_checks/x.sh is writable by group or others (mode 0775)"


def test_group_writable_folder_refuses_every_check_in_it(vm_root):
    script(checks_dir(vm_root) / "a.sh")
    script(checks_dir(vm_root) / "b.sh")
    os.chmod(checks_dir(vm_root), 0o775)
    checks, problem = found(vm_root)
    assert problem is None
    assert [check.refused for check in checks] == [
        "not run: /root/health_checks is writable by group or others (mode 0775)"] * 2


def test_writable_folder_higher_up_is_refused(vm_root):
    script(checks_dir(vm_root) / "x.sh")
    os.chmod(vm_root / "root", 0o757)
    (check,), _ = found(vm_root)
    assert check.refused == "not run: /root is writable by group or others (mode 0757)"


def test_the_root_folder_itself_is_part_of_the_walk(vm_root):
    script(checks_dir(vm_root) / "x.sh")
    os.chmod(vm_root, 0o1777)
    (check,), _ = found(vm_root)
    assert check.refused == "not run: / is writable by group or others (mode 1777)"


def test_the_walk_stops_at_the_root(vm_root):
    # tmp_path's parents include /tmp (mode 1777): above the root, so it does not count.
    assert os.stat("/tmp").st_mode & 0o002
    script(checks_dir(vm_root) / "x.sh")
    (check,), _ = found(vm_root)
    assert check.refused is None


def test_script_not_owned_by_root_is_refused(vm_root):
    path = script(checks_dir(vm_root) / "x.sh")
    os.chown(path, OTHER_UID, OTHER_UID)
    (check,), _ = found(vm_root)
    assert check.refused == "not run: /root/health_checks/x.sh is owned by uid 1000, not root (mode 0755)"


def test_folder_not_owned_by_root_is_refused(vm_root):
    script(checks_dir(vm_root) / "x.sh")
    os.chown(checks_dir(vm_root), OTHER_UID, 0)
    (check,), _ = found(vm_root)
    assert check.refused == "not run: /root/health_checks is owned by uid 1000, not root (mode 0755)"


def test_symlink_outside_the_folder_is_refused(vm_root):
    outside = script(vm_root / "root/elsewhere.sh")
    (checks_dir(vm_root) / "x.sh").symlink_to(outside)
    (check,), _ = found(vm_root)
    assert check.refused == ("not run: /root/health_checks/x.sh is a symbolic link to "
                             "/root/elsewhere.sh, outside /root/health_checks")


def test_symlink_outside_the_root_is_refused_naming_the_real_target(vm_root, tmp_path):
    outside = script(tmp_path / "outside.sh")
    (checks_dir(vm_root) / "x.sh").symlink_to(outside)
    (check,), _ = found(vm_root)
    assert check.refused == (f"not run: /root/health_checks/x.sh is a symbolic link to "
                             f"{outside.resolve()}, outside /root/health_checks")


def test_symlink_inside_the_folder_is_allowed_and_resolved(vm_root):
    folder = checks_dir(vm_root)
    (folder / "utility").mkdir(mode=0o755)
    target = script(folder / "utility/real_check.py", mode=0o755)
    (folder / "x.sh").symlink_to("utility/real_check.py")
    checks, _ = found(vm_root)
    assert checks == [Check("x.sh", target.resolve(), None)]


def test_symlink_inside_still_checks_the_target_mode(vm_root):
    folder = checks_dir(vm_root)
    (folder / "utility").mkdir(mode=0o777)
    os.chmod(folder / "utility", 0o777)
    script(folder / "utility/real_check.py")
    (folder / "x.sh").symlink_to("utility/real_check.py")
    (check,), _ = found(vm_root)
    assert check.refused == "not run: /root/health_checks/utility is writable by group or others (mode 0777)"


def test_trust_off_runs_everything(vm_root, tmp_path):
    folder = checks_dir(vm_root)
    script(folder / "a.sh", mode=0o777)
    outside = script(tmp_path / "outside.sh")
    (folder / "b.sh").symlink_to(outside)
    os.chmod(folder, 0o777)
    checks, _ = found(vm_root, trust="off")
    assert checks == [Check("a.sh", (folder / "a.sh").resolve(), None),
                      Check("b.sh", outside.resolve(), None)]


def test_unknown_trust_value_is_strict(vm_root):
    script(checks_dir(vm_root) / "x.sh", mode=0o777)
    (check,), _ = found(vm_root, trust="relaxed")
    assert check.refused is not None


def test_non_executable_files_are_ignored_before_trust(vm_root):
    path = script(checks_dir(vm_root) / "x.sh", mode=0o666)
    os.chown(path, OTHER_UID, 0)
    assert found(vm_root) == ([], None)


@pytest.mark.parametrize("name", ["a,b.sh", "MONITOR RESULTS.sh", "x FAILING CHECKS", "tab\there.sh"])
def test_a_name_the_server_cannot_read_back_is_not_run_and_is_logged(vm_root, name, caplog):
    """The failing list is split on commas and read line by line, and a line holding a mode
    phrase switches the server's parser (contract 3.6): such a name would lose failing checks."""
    folder = checks_dir(vm_root)
    script(folder / name)
    script(folder / "good.sh")
    checks, problem = found(vm_root)
    assert problem is None
    assert [check.name for check in checks] == ["good.sh"]
    assert f"health check {name!r} is not run: " in caplog.text
