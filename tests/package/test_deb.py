"""The built Debian package: lintian, contents, install, the installed files, purge.

Run as root, under Debian's interpreter (CI does both):

    /usr/bin/python3 -m pytest tests/package -q

The .deb comes from dist/ when it is newer than every packaged source file; otherwise
scripts/build-deb builds it first (about 15 s on the 2-core CI machine, up
to a minute on a slow one). The tests that install the package purge
any earlier install first and purge again at the end, pass or fail. Installing never starts
the daemon: when the machine has no /usr/sbin/policy-rc.d, one that denies every start is put
there for the install and removed afterwards.
"""

import io
import os
import re
import shutil
import subprocess
import time
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import require_root

PROJECT = Path(__file__).resolve().parents[2]
DIST = PROJECT / "dist"
PACKAGE = "vrmonitor"
SYSTEM_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C.UTF-8"}
POLICY_RC_D = Path("/usr/sbin/policy-rc.d")

# What goes into the .deb: a change to any of these makes the .deb in dist/ stale.
PACKAGED_SOURCES = ("setup.py", "pyproject.toml", "bin/", "vrmonitor/", "debian/", "systemd/",
                    "etc/", "docs/man/", "contrib/")
# Exactly the Debian packages the binary package depends on (`python3` from ${python3:Depends}).
EXPECTED_DEPENDS = {"python3-psutil", "python3-netifaces", "python3-scapy", "python3-daemon",
                    "python3-jsonschema", "python3"}
# vrmonitor's own folders: purge leaves none (the state and runtime ones come from the daemon).
OWN_FOLDERS = ("/etc/vrmonitor", "/var/lib/vrmonitor", "/run/vrmonitor")
PROM_FILE = Path("/var/lib/prometheus/node-exporter/vrmonitor.prom")
# For the operator's Prometheus and Grafana (docs/monitoring.md): installed path -> contrib file.
FLEET_FILES = {
    "/usr/share/vrmonitor/prometheus/vrmonitor.rules.yml": "contrib/prometheus/vrmonitor.rules.yml",
    "/usr/share/vrmonitor/prometheus/vrmonitor.rules.test.yml": "contrib/prometheus/vrmonitor.rules.test.yml",
    "/usr/share/vrmonitor/grafana/vrmonitor-fleet.json": "contrib/grafana/vrmonitor-fleet.json",
}

pytestmark = [pytest.mark.root, pytest.mark.slow]


def run(argv, **kwargs) -> subprocess.CompletedProcess:
    kwargs.setdefault("env", SYSTEM_ENV)
    return subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)


def described(done: subprocess.CompletedProcess, tail: int = 4000) -> str:
    return (f"{' '.join(map(str, done.args))} exited {done.returncode}\n"
            f"stdout:\n{done.stdout[-tail:]}\nstderr:\n{done.stderr[-tail:]}")


def project_version() -> str:
    text = (PROJECT / "vrmonitor" / "__init__.py").read_text()
    return re.search(r'^__version__ = "([^"]+)"', text, re.MULTILINE).group(1)




# --- the .deb ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Built:
    deb: Path
    changes: Path


def newest_packaged_source() -> float:
    """mtime of the newest file that goes into the .deb (tracked or new, not ignored).

    Without a usable git checkout the answer is "now", which makes the fixture rebuild.
    """
    # safe.directory: the checkout may belong to another user than the root running the tests.
    done = subprocess.run(["git", "-c", f"safe.directory={PROJECT}", "ls-files", "-z", "--cached",
                           "--others", "--exclude-standard", "--", *PACKAGED_SOURCES],
                          cwd=PROJECT, capture_output=True, check=False)
    if done.returncode != 0:
        return float("inf")
    listed = done.stdout
    newest = 0.0
    for name in filter(None, listed.decode().split("\0")):
        path = PROJECT / name
        if os.path.lexists(path):
            newest = max(newest, path.lstat().st_mtime)
    return newest


def find_built(version: str) -> Built | None:
    deb = DIST / f"{PACKAGE}_{version}_all.deb"
    changes = sorted(DIST.glob(f"{PACKAGE}_{version}_*.changes"))
    if deb.exists() and changes:
        return Built(deb, changes[0])
    return None


@pytest.fixture(scope="session")
def built() -> Built:
    version = project_version()
    found = find_built(version)
    if found is None or found.deb.stat().st_mtime < newest_packaged_source():
        # scripts/build-deb: dpkg-buildpackage (with the unit tests) and lintian, 15-60 s.
        done = subprocess.run([str(PROJECT / "scripts" / "build-deb")], cwd=PROJECT,
                              capture_output=True, text=True, check=False)
        assert done.returncode == 0, described(done)
        found = find_built(version)
        assert found is not None, f"scripts/build-deb left no {PACKAGE}_{version} .deb in dist/"
    return found


def deb_field(built: Built, field: str) -> str:
    done = run(["dpkg-deb", "--field", str(built.deb), field])
    assert done.returncode == 0, described(done)
    return done.stdout.strip()


def deb_files(built: Built) -> dict[str, tarfile.TarInfo]:
    """The data archive's members by absolute path, and the archive's bytes."""
    done = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(built.deb)], capture_output=True,
                          check=False)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    with tarfile.open(fileobj=io.BytesIO(done.stdout)) as archive:
        return {"/" + member.name.removeprefix(".").strip("/"): member for member in archive.getmembers()}


def deb_paths(built: Built) -> list[str]:
    return list(deb_files(built))


def deb_file_bytes(built: Built, path: str) -> bytes:
    done = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(built.deb)], capture_output=True,
                          check=False)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    with tarfile.open(fileobj=io.BytesIO(done.stdout)) as archive:
        extracted = archive.extractfile("." + path)
        assert extracted is not None, f"{path} is not a regular file in the .deb"
        return extracted.read()


def test_lintian_reports_no_error_or_warning(built):
    done = run(["lintian", "--pedantic", "--display-info", str(built.changes)])
    problems = [line for line in done.stdout.splitlines() if line.startswith(("E:", "W:"))]
    assert problems == [] and done.returncode == 0, described(done)


def test_versions_agree(built):
    version = project_version()
    assert deb_field(built, "Version") == version
    changelog = run(["dpkg-parsechangelog", "-l", str(PROJECT / "debian" / "changelog"),
                     "-S", "Version"])
    assert changelog.stdout.strip() == version
    manual = (PROJECT / "docs" / "man" / "vrmonitor.1").read_text()
    assert re.search(rf'^\.TH VRMONITOR 1 "[^"]*" "vrmonitor {re.escape(version)}"', manual,
                     re.MULTILINE), "docs/man/vrmonitor.1: .TH names another version"


def test_depends_on_exactly_the_debian_libraries(built):
    names = set()
    for alternative in deb_field(built, "Depends").split(","):
        assert "|" not in alternative, alternative
        names.add(re.split(r"[\s(:]", alternative.strip(), maxsplit=1)[0])
    assert names == EXPECTED_DEPENDS
    assert deb_field(built, "Architecture") == "all"


def test_nothing_under_opt_or_root(built):
    paths = deb_paths(built)
    assert "/usr/bin/vrmonitor" in paths
    assert [p for p in paths if p.startswith(("/opt/", "/root/")) or p in ("/opt", "/root")] == []


def test_ships_unit_init_script_manual_and_config(built):
    paths = set(deb_paths(built))
    for expected in ("/lib/systemd/system/vrmonitor.service", "/etc/init.d/vrmonitor",
                     "/usr/share/man/man1/vrmonitor.1.gz", "/etc/vrmonitor/vrmonitor.toml",
                     "/usr/share/doc/vrmonitor/copyright"):
        assert expected in paths


def test_ships_the_prometheus_rules_their_tests_and_the_grafana_dashboard(built):
    members = deb_files(built)
    for path, source in FLEET_FILES.items():
        assert path in members, f"{path} missing from the .deb"
        assert members[path].isfile() and members[path].mode == 0o644, (path, oct(members[path].mode))
        assert deb_file_bytes(built, path) == (PROJECT / source).read_bytes(), f"{path} differs from {source}"
    # Nothing else under the folder: what docs/monitoring.md lists is what is there.
    assert sorted(p for p in members if p.startswith("/usr/share/vrmonitor/") and members[p].isfile()) == \
        sorted(FLEET_FILES)


def test_default_config_is_a_conffile(built):
    done = run(["dpkg-deb", "--info", str(built.deb), "conffiles"])
    assert done.returncode == 0, described(done)
    assert "/etc/vrmonitor/vrmonitor.toml" in done.stdout.split()


# --- installed ---------------------------------------------------------------------------------

def is_installed() -> bool:
    done = run(["dpkg-query", "--show", "--showformat=${Status}", PACKAGE])
    return done.returncode == 0 and done.stdout.strip() == "install ok installed"


class NoServiceStarts:
    """A policy-rc.d that denies every start while dpkg runs, unless the machine has one."""

    def __enter__(self):
        self.added = not os.path.lexists(POLICY_RC_D)
        if self.added:
            POLICY_RC_D.write_text("#!/bin/sh\n# tests/package/test_deb.py: start nothing\nexit 101\n")
            POLICY_RC_D.chmod(0o755)
        return self

    def __exit__(self, *exc_info):
        if self.added:
            POLICY_RC_D.unlink()


def dpkg(*args: str) -> subprocess.CompletedProcess:
    with NoServiceStarts():
        return run(["dpkg", *args])


def install(built: Built) -> list[str]:
    """Install the .deb on a clean slate; return `dpkg -L` (files and folders)."""
    purged = dpkg("--purge", PACKAGE)
    assert purged.returncode == 0, described(purged)
    done = dpkg("--install", str(built.deb))
    assert done.returncode == 0, described(done)
    listed = run(["dpkg", "--listfiles", PACKAGE])
    assert listed.returncode == 0, described(listed)
    return [line for line in listed.stdout.splitlines() if line and line != "/."]


@pytest.fixture(scope="module")
def installation(built):
    """Installs the package once for this module; purges it at the end, pass or fail."""
    require_root("tests/package", "they install and purge the .deb with dpkg: "
                 "sudo /usr/bin/python3 -m pytest tests/package")
    state = {"files": None}
    try:
        state["files"] = install(built)
        yield state
    finally:
        dpkg("--purge", PACKAGE)


@pytest.fixture
def installed(installation, built) -> list[str]:
    """The package is installed (again, if a test purged it); `dpkg -L` before any purge."""
    if not is_installed():
        installation["files"] = install(built)
    return installation["files"]


def test_dpkg_install_succeeds(installed):
    assert is_installed()
    assert "/usr/bin/vrmonitor" in installed


def test_version_under_debian_python(installed, tmp_path):
    with open("/usr/bin/vrmonitor", encoding="utf-8") as script:
        assert script.readline().rstrip("\n") == "#!/usr/bin/python3"
    done = run(["/usr/bin/vrmonitor", "--version"], cwd=tmp_path)
    assert (done.returncode, done.stdout, done.stderr) == (0, f"vrmonitor {project_version()}\n",
                                                           ""), described(done)
    where = run(["/usr/bin/python3", "-c", "import vrmonitor; print(vrmonitor.__file__)"],
                cwd=tmp_path)
    assert where.stdout.strip() == "/usr/lib/python3/dist-packages/vrmonitor/__init__.py"


def test_validate_config_on_an_empty_root(installed, tmp_path):
    done = run(["/usr/bin/vrmonitor", "--root", str(tmp_path), "validate-config"], cwd=tmp_path)
    assert done.returncode == 0, described(done)


def test_the_installed_rules_pass_promtool_where_they_are(installed):
    tool = shutil.which("promtool")
    assert tool, "promtool missing: Debian's prometheus package (scripts/setup-test-env)"
    folder = "/usr/share/vrmonitor/prometheus"
    assert [path for path in FLEET_FILES if path in installed] == list(FLEET_FILES)
    checked = run([tool, "check", "rules", f"{folder}/vrmonitor.rules.yml"])
    assert checked.returncode == 0, described(checked)
    # The tests name their rules file relative to themselves: they run from any folder.
    tested = run([tool, "test", "rules", f"{folder}/vrmonitor.rules.test.yml"], cwd="/")
    assert tested.returncode == 0 and tested.stdout.strip().endswith("SUCCESS"), described(tested)


def test_systemd_unit_verifies(installed):
    done = run(["systemd-analyze", "verify", "/lib/systemd/system/vrmonitor.service"])
    assert done.returncode == 0, described(done)


def test_init_script_parses(installed):
    done = run(["sh", "-n", "/etc/init.d/vrmonitor"])
    assert done.returncode == 0, described(done)


def test_init_script_lsb_exit_codes_when_stopped(installed):
    if os.path.isdir("/run/systemd/system"):
        pytest.skip("systemd runs here: the LSB init functions hand the script to systemctl")
    assert run(["/etc/init.d/vrmonitor", "status"]).returncode == 3  # not running
    assert run(["/etc/init.d/vrmonitor", "stop"]).returncode == 0  # stopping a stopped service
    assert run(["/etc/init.d/vrmonitor", "force-reload"]).returncode == 0
    assert run(["/etc/init.d/vrmonitor", "reload"]).returncode == 7  # not running
    unknown = run(["/etc/init.d/vrmonitor", "bogus"])
    assert unknown.returncode == 2 and "Usage:" in unknown.stderr


def test_init_script_starts_reports_reloads_and_stops_the_daemon(installed):
    if os.path.isdir("/run/systemd/system"):
        pytest.skip("systemd runs here: the LSB init functions hand the script to systemctl")
    script = "/etc/init.d/vrmonitor"
    debug_log = Path("/var/log/monitor.log")
    had_log = debug_log.exists()
    try:
        started = run([script, "start"])
        assert started.returncode == 0, described(started)
        pid = int(Path("/run/vrmonitor/vrmonitor.pid").read_text())
        assert Path(f"/proc/{pid}").exists()
        assert run([script, "status"]).returncode == 0
        deadline = time.monotonic() + 20
        while (status := run(["/usr/bin/vrmonitor", "status"])).returncode != 0:
            assert time.monotonic() < deadline, described(status)
            time.sleep(0.1)
        assert f"daemon: running as PID {pid}" in status.stdout
        assert run([script, "reload"]).returncode == 0
        assert Path(f"/proc/{pid}").exists()  # SIGHUP reloads, it does not stop the daemon
        stopped = run([script, "stop"])
        assert stopped.returncode == 0, described(stopped)
        assert not Path(f"/proc/{pid}").exists() and not Path("/run/vrmonitor/vrmonitor.pid").exists()
        assert run([script, "status"]).returncode == 3
        assert run(["/usr/bin/vrmonitor", "status"]).returncode == 3
    finally:
        run([script, "stop"])
        if not had_log:
            debug_log.unlink(missing_ok=True)


def owned_by_other_packages(paths: list[str]) -> set[str]:
    if not paths:
        return set()
    done = run(["dpkg-query", "--search", *paths])
    owned = set()
    for line in done.stdout.splitlines():
        if line.startswith("diversion "):
            continue
        owners, _, path = line.rpartition(": ")
        if owners and PACKAGE not in (owner.split(":")[0] for owner in owners.split(", ")):
            owned.add(path)
    return owned


def test_purge_leaves_nothing_behind(installed):
    # What the daemon would have left: state, a pidfile, a metrics file.
    Path("/var/lib/vrmonitor").mkdir(exist_ok=True)
    Path("/var/lib/vrmonitor/state.json").write_text("{}\n")
    Path("/run/vrmonitor").mkdir(exist_ok=True)
    Path("/run/vrmonitor/vrmonitor.pid").write_text("999999\n")
    made = [folder for folder in (PROM_FILE.parent.parent, PROM_FILE.parent)
            if not folder.exists()]
    try:
        PROM_FILE.parent.mkdir(parents=True, exist_ok=True)
        PROM_FILE.write_text("vrmonitor_up 1\n")

        done = dpkg("--purge", PACKAGE)
        assert done.returncode == 0, described(done)
        assert run(["dpkg", "--status", PACKAGE]).returncode != 0
        assert not PROM_FILE.exists()
    finally:
        PROM_FILE.unlink(missing_ok=True)
        for folder in reversed(made):
            folder.rmdir()

    left = [path for path in installed if os.path.lexists(path)]
    # Folders shared with other packages (/usr/bin, /etc/init.d, /usr/share/doc...) stay.
    assert sorted(set(left) - owned_by_other_packages(left)) == []
    assert [folder for folder in OWN_FOLDERS if os.path.lexists(folder)] == []
