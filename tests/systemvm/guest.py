"""A Debian 12 guest with systemd as PID 1, booted by systemd-nspawn, and everything it needs.

    mgmt namespace (MGMT_IP, "the management server")  ---veth---  guest namespace (GUEST_IP, eth0)
                                                                     systemd-nspawn -b: the guest

What a boot makes, and teardown removes (each recorded in the boot's state.json first, so that
`sweep()` can remove what a killed run left behind):
- two network namespaces and the veth pair between them: the guest never sees the host's
  network namespace (pitfall 2), so nothing it runs can bind a host address;
- a cgroup folder in every host hierarchy (cgroups.py, pitfall 3);
- a per-boot folder under the cache: an overlay's upper and work folders over the cached rootfs
  (the "fresh copy": writes land in upper, the cached tree is never changed), the overlay's mount
  point, a console log, a read-only folder for files handed in (/srv/host in the guest);
- the overlay mount, inside the launcher's private mount namespace only (launch.py);
- nspawn's /run/systemd/nspawn/propagate/NAME (pitfall 4).

How a guest always goes away:
- normal path: `teardown()` (the context manager's exit, a fixture's finaliser): SIGTERM to
  nspawn makes it send SIGRTMIN+3 to the guest's systemd, an orderly poweroff; if that hangs,
  every process in the guest's cgroups is killed by PID;
- the test process exits without finalisers (an uncaught SIGTERM/SIGHUP, sys.exit): an atexit
  hook, and SIGTERM/SIGHUP turned into KeyboardInterrupt so that finally blocks run;
- the test process is killed with SIGKILL: nspawn was started with a parent-death signal
  (SIGTERM), so the guest powers off by itself; the namespaces, cgroup folders and per-boot
  folder it leaves are removed by `sweep()`, which every new boot runs first (and
  `python3 -m tests.systemvm.guest --sweep` runs on demand).

Commands run inside with `nsenter -t LEADER -a` (pitfall 9). Only processes this module started
are ever signalled, by PID.
"""

import atexit
import contextlib
import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.systemvm import cgroups, rootfs

GUEST_IP, MGMT_IP, PREFIX_LEN = "198.18.61.1", "198.18.61.2", 24
GUEST_DEV, MGMT_DEV = "eth0", "mgmt0"
HOST_FOLDER_IN_GUEST = "/srv/host"
ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
GUEST_ENV = {**ENV, "HOME": "/root", "TERM": "dumb", "DEBIAN_FRONTEND": "noninteractive"}
BOOT_WITHIN = 60.0
POWEROFF_WITHIN = 20.0
NSPAWN_REBOOTED = 133  # systemd-nspawn's exit status when the guest asked for a reboot
LAUNCHER = Path(__file__).with_name("launch.py")
PR_SET_PDEATHSIG = 1


class GuestError(RuntimeError):
    """The guest could not be booted (the message says at which step, with its output)."""


def boots_folder() -> Path:
    return rootfs.cache_root() / "boots"


def _checked(argv: list[str], timeout: float = 30) -> subprocess.CompletedProcess:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=ENV, check=False)
    if done.returncode != 0:
        raise GuestError(f"{' '.join(argv)}: exit {done.returncode}: {done.stderr.strip()}")
    return done


def _parent_death_signal() -> None:
    """In the child before exec: SIGTERM when the test process dies (survives exec)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def _start_time(pid: int) -> str | None:
    """A live process's start time in clock ticks (tells it from a later one with the same
    PID); None once it has exited, zombies included (this machine's PID 1 reaps slowly)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] in ("Z", "X") else fields[19]


def _kill(pid: int | None, sig: int) -> None:
    if pid:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


class Guest:
    """One booted guest. `with Guest(...) as guest:` boots it and always tears it down.

    prepare: called with a GuestFiles before boot, to write files the services should find when
    they first start (configuration, keys); no restart needed afterwards.
    host_files: {name: host path} copied into the read-only folder the guest sees at /srv/host.
    """

    def __init__(self, prepare=None, host_files: dict[str, Path] | None = None,
                 capabilities: tuple[str, ...] = ("CAP_NET_ADMIN",), log=print):
        self.prepare = prepare
        self.host_files = host_files or {}
        self.capabilities = capabilities
        self.log = log
        tag = f"{os.getpid() % 100000}-{time.monotonic_ns() % 100000}"
        self.name = f"vrsv-{tag}"  # machine name: nspawn's propagate folder, the cgroup folders
        self.guest_ns, self.mgmt_ns = f"{self.name}-g", f"{self.name}-m"
        self.folder = boots_folder() / self.name
        self.namespaces: list[str] = []
        self.cgroups: list[Path] = []
        self.nspawn: subprocess.Popen | None = None
        self.leader: int | None = None
        self.timings: dict[str, float] = {}
        self.rootfs: rootfs.Rootfs | None = None
        self._torn_down = False
        self._console = None

    # --- boot ---------------------------------------------------------------------------------
    def __enter__(self) -> "Guest":
        self.boot()
        return self

    def __exit__(self, *exc) -> None:
        self.teardown()

    def boot(self) -> None:
        """Build (or reuse) the rootfs, make the network and cgroups, start nspawn, wait for
        systemd to finish booting. On any failure everything made so far is removed again."""
        if os.geteuid() != 0:
            raise GuestError("the system VM test bed needs root (namespaces, cgroups, mounts)")
        for tool in ("systemd-nspawn", "nsenter", "unshare", "ip"):
            if shutil.which(tool, path=ENV["PATH"]) is None:
                raise GuestError(f"{tool} is missing (./scripts/setup-test-env installs it)")
        sweep(log=self.log)
        atexit.register(self.teardown)
        _forward_termination()
        try:
            self.rootfs = rootfs.ensure(log=self.log)
            self.timings["rootfs"] = self.rootfs.seconds
            started = time.monotonic()
            self._make_folder()
            self._save_state()
            self._make_network()
            self.cgroups = cgroups.create(f"vrmonitor-systemvm-{self.name}")
            self._save_state()
            if self.prepare is not None:
                self.prepare(GuestFiles(self.rootfs.path, self.folder / "upper"))
            self._start_nspawn()
            self._wait_running()
            self.timings["boot"] = time.monotonic() - started
        except BaseException:
            self.teardown()
            raise

    def _make_folder(self) -> None:
        for part in ("upper", "work", "root", "host"):
            (self.folder / part).mkdir(parents=True)
        for name, source in self.host_files.items():
            shutil.copy2(source, self.folder / "host" / name)

    def _make_network(self) -> None:
        for ns in (self.guest_ns, self.mgmt_ns):
            _checked(["ip", "netns", "add", ns])
            self.namespaces.append(ns)
            self._save_state()
            _checked(["ip", "-n", ns, "link", "set", "lo", "up"])
        # Both ends are created inside the namespaces: no veth ever appears in the host's.
        _checked(["ip", "link", "add", MGMT_DEV, "netns", self.mgmt_ns, "type", "veth",
                  "peer", GUEST_DEV, "netns", self.guest_ns])
        for ns, dev, address in ((self.mgmt_ns, MGMT_DEV, MGMT_IP), (self.guest_ns, GUEST_DEV, GUEST_IP)):
            _checked(["ip", "-n", ns, "addr", "add", f"{address}/{PREFIX_LEN}", "dev", dev])
            _checked(["ip", "-n", ns, "link", "set", dev, "up"])

    def nspawn_argv(self) -> list[str]:
        argv = [shutil.which("systemd-nspawn", path=ENV["PATH"]),
                "--boot", "--keep-unit", "--register=no",
                f"--machine={self.name}",
                f"--directory={self.folder / 'root'}",
                f"--network-namespace-path=/run/netns/{self.guest_ns}",
                # Nothing of the host's leaks in: no journal link, resolv.conf or time zone copy.
                "--link-journal=no", "--resolv-conf=off", "--timezone=off",
                "--private-users=no", "--console=read-only",
                f"--bind-ro={self.folder / 'host'}:{HOST_FOLDER_IN_GUEST}"]
        # nspawn drops CAP_NET_ADMIN with --network-namespace-path (pitfall 10); iptables in
        # health checks needs it. The command-line option adds it back without a .nspawn file.
        argv += [f"--capability={cap}" for cap in self.capabilities]
        return argv

    def _start_nspawn(self) -> None:
        spec = {
            "cgroups": [str(c) for c in self.cgroups],
            "overlay": {"lower": str(self.rootfs.path), "upper": str(self.folder / "upper"),
                        "work": str(self.folder / "work"), "merged": str(self.folder / "root")},
            "argv": self.nspawn_argv(),
            # A pure cgroup v2 tree in the guest, as on a stock Debian 12 (pitfall 5).
            "env": {**ENV, "SYSTEMD_NSPAWN_UNIFIED_HIERARCHY": "1"},
        }
        (self.folder / "launch.json").write_text(json.dumps(spec, indent=1))
        self._console = open(self.folder / "console.log", "ab")
        self.nspawn = subprocess.Popen(
            [shutil.which("unshare", path=ENV["PATH"]), "--mount", "--propagation", "private", "--",
             "/usr/bin/python3", str(LAUNCHER), str(self.folder / "launch.json")],
            stdin=subprocess.DEVNULL, stdout=self._console, stderr=subprocess.STDOUT, env=ENV,
            start_new_session=True, preexec_fn=_parent_death_signal)
        self._save_state()

    def _find_leader(self) -> int | None:
        """The guest's PID 1 as the host sees it: nspawn's child that is PID 1 in its namespace."""
        own_pidns = os.readlink("/proc/self/ns/pid")
        candidates = []
        for task in Path(f"/proc/{self.nspawn.pid}/task").glob("*"):
            try:
                candidates += [int(p) for p in (task / "children").read_text().split()]
            except OSError:
                continue
        for pid in candidates:
            try:
                status = Path(f"/proc/{pid}/status").read_text()
                if os.readlink(f"/proc/{pid}/ns/pid") == own_pidns:
                    continue
            except OSError:
                continue
            nspid = next((line.split()[1:] for line in status.splitlines() if line.startswith("NSpid:")), [])
            if nspid and nspid[-1] == "1":
                return pid
        return None

    def _wait_running(self) -> None:
        end = time.monotonic() + BOOT_WITHIN
        state = ""
        while time.monotonic() < end:
            if self.nspawn.poll() is not None:
                raise GuestError(f"systemd-nspawn exited {self.nspawn.returncode}:\n{self.console()}")
            if self.leader is None:
                self.leader = self._find_leader()
                if self.leader is not None:
                    self._save_state()
            if self.leader is not None:
                state = self.run(["systemctl", "is-system-running"], timeout=10).stdout.strip()
                if state == "running":
                    return
                if state == "degraded":
                    failed = self.run(["systemctl", "--failed", "--plain", "--no-legend"]).stdout
                    self.log(f"systemvm: guest booted degraded; failed units:\n{failed}")
                    return
            time.sleep(0.05)
        raise GuestError(f"not running within {BOOT_WITHIN} s (last state {state!r}):\n{self.console()}")

    def reboot(self) -> None:
        """`systemctl reboot` inside, as an operator or CloudStack would: systemd stops every
        unit in order, nspawn then ends with status 133 (a reboot), and the same disk (the
        per-boot overlay layer) boots again in the same namespaces and cgroups."""
        self._end_entered()
        self.run(["systemctl", "--no-block", "reboot"], check=True)
        try:
            self.nspawn.wait(timeout=POWEROFF_WITHIN)
        except subprocess.TimeoutExpired:
            raise GuestError(f"the guest did not reboot within {POWEROFF_WITHIN} s") from None
        if self.nspawn.returncode != NSPAWN_REBOOTED:
            raise GuestError(f"systemd-nspawn exited {self.nspawn.returncode}, not "
                             f"{NSPAWN_REBOOTED} (reboot):\n{self.console()}")
        leftovers = cgroups.kill_all(self.cgroups)
        if leftovers:
            raise GuestError(f"processes left after the reboot's poweroff: {leftovers}")
        self._console.close()
        self.leader = None
        started = time.monotonic()
        self._start_nspawn()
        self._wait_running()
        self.timings["reboot"] = time.monotonic() - started

    # --- use ----------------------------------------------------------------------------------
    def run(self, argv: list[str], timeout: float = 120, input: str | None = None,
            check: bool = False) -> subprocess.CompletedProcess:
        """argv inside the guest (all its namespaces, root's environment, cwd /root).

        On timeout the whole process group is killed, including nsenter's forked child."""
        return self._run(self.enter(argv), timeout, input, check, GUEST_ENV)

    def enter(self, argv: list[str]) -> list[str]:
        """nsenter's argv for a command inside the guest, in /root as over ssh.

        `--root --wd` without a value take the guest PID 1's root and working folder; nsenter
        would open a named `--wd=DIR` before entering, i.e. on the host. `env -C` then moves
        to /root inside."""
        return ["nsenter", "-t", str(self.leader), "-a", "--root", "--wd", "env", "-C", "/root", *argv]

    def mgmt(self, argv: list[str], timeout: float = 120, input: str | None = None,
             check: bool = False) -> subprocess.CompletedProcess:
        """argv on the management server's side: the host's files, the mgmt namespace's network."""
        return self._run(["nsenter", f"--net=/run/netns/{self.mgmt_ns}", *argv],
                         timeout, input, check, ENV)

    @staticmethod
    def _run(argv, timeout, input, check, env) -> subprocess.CompletedProcess:
        process = subprocess.Popen(argv, stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   env=env, start_new_session=True)
        try:
            out, err = process.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise
        done = subprocess.CompletedProcess(argv, process.returncode, out, err)
        if check and done.returncode != 0:
            raise GuestError(f"{' '.join(argv)}: exit {done.returncode}: {err.strip()}\n{out}")
        return done

    def path(self, guest_path: str) -> Path:
        """A guest path as the host can read or write it while the guest runs.

        Through /proc/LEADER/root; an absolute symlink on the way would resolve on the host,
        so use /run rather than /var/run."""
        return Path(f"/proc/{self.leader}/root") / guest_path.lstrip("/")

    def console(self) -> str:
        try:
            return (self.folder / "console.log").read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def processes(self) -> set[int]:
        """Host PIDs of every process of the guest (and of nspawn)."""
        return cgroups.pids(self.cgroups)

    # --- teardown -----------------------------------------------------------------------------
    def teardown(self) -> list[str]:
        """Poweroff, then everything removed; what had to be forced or could not be removed.

        Safe to call twice and from atexit. Ctrl-C, SIGTERM and SIGHUP arriving meanwhile are
        held until the end (a second Ctrl-C must not leave half a guest behind) and then
        raised as KeyboardInterrupt."""
        if self._torn_down:
            return []
        self._torn_down = True
        started = time.monotonic()
        problems = []
        with _signals_held() as held:
            try:
                if self.nspawn is not None and self.nspawn.poll() is None:
                    self._end_entered()
                    self.nspawn.send_signal(signal.SIGTERM)  # nspawn: SIGRTMIN+3 to the guest's systemd
                    try:
                        self.nspawn.wait(timeout=POWEROFF_WITHIN)
                    except subprocess.TimeoutExpired:
                        problems.append(f"no poweroff within {POWEROFF_WITHIN} s: killed by PID")
            finally:
                if self.nspawn is not None:
                    killed = cgroups.kill_all(self.cgroups)
                    if killed and not problems:
                        problems.append(f"left after poweroff, killed: {killed}")
                    _kill(self.nspawn.pid if self.nspawn.poll() is None else None, signal.SIGKILL)
                    self.nspawn.wait()
                if self._console is not None:
                    self._console.close()
                problems += _remove(self.name, self.namespaces, self.cgroups, self.folder)
                self.timings["teardown"] = time.monotonic() - started
                atexit.unregister(self.teardown)
        if held:
            raise KeyboardInterrupt(f"signal {held[0]} during teardown")
        return problems

    def _end_entered(self, within: float = 3.0) -> None:
        """End what this test bed started inside with nsenter and is still running (a shell, a
        command that timed out), and wait until it is reaped, before the poweroff.

        Why: such a process is in the guest's PID namespace but not in its cgroups and is not a
        child of the guest's systemd. Only its nsenter (a host process) can reap it, and
        systemd-shutdown, finding it at "Sending SIGTERM to remaining processes", gets no
        SIGCHLD for it and waits its full 10 s (measured: teardown 10.3 s instead of 0.3 s).
        So: SIGKILL it, SIGCONT its nsenter (a stopped one would never reap), wait; if it is
        still there, SIGKILL the nsenter too, so the host's init reaps the orphan."""
        if self.leader is None:
            return
        entered = self._entered()
        for pid, parent in entered.items():
            _kill(pid, signal.SIGKILL)
            _kill(parent, signal.SIGCONT)
        end = time.monotonic() + within
        while entered and time.monotonic() < end:
            entered = {pid: parent for pid, parent in entered.items() if Path(f"/proc/{pid}").exists()}
            if entered and time.monotonic() > end - within / 2:
                for parent in entered.values():
                    _kill(parent, signal.SIGKILL)
            time.sleep(0.02)

    def _entered(self) -> dict[int, int | None]:
        """{pid: its nsenter's pid} of processes in the guest's PID namespace outside its
        cgroups (the nsenter is None when the parent is itself inside the guest)."""
        try:
            guest_pidns = os.readlink(f"/proc/{self.leader}/ns/pid")
        except OSError:
            return {}
        in_units = self.processes()
        found = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) in in_units:
                continue
            try:
                if os.readlink(entry / "ns/pid") != guest_pidns:
                    continue
                status = (entry / "status").read_text()
                parent = int(next(line.split()[1] for line in status.splitlines() if line.startswith("PPid:")))
                outside = os.readlink(f"/proc/{parent}/ns/pid") != guest_pidns
            except (OSError, StopIteration, ValueError):
                continue
            found[int(entry.name)] = parent if outside and parent not in (0, 1, self.nspawn.pid) else None
        return found

    # --- the record sweep() reads -----------------------------------------------------------------
    def _save_state(self) -> None:
        state = {"owner": os.getpid(), "owner_start": _start_time(os.getpid()), "name": self.name,
                 "namespaces": self.namespaces, "cgroups": [str(c) for c in self.cgroups],
                 "nspawn": self.nspawn.pid if self.nspawn else None,
                 "nspawn_start": _start_time(self.nspawn.pid) if self.nspawn else None}
        (self.folder / "state.json").write_text(json.dumps(state))


def _remove(name: str, namespaces: list[str], cgroup_folders: list[Path], folder: Path) -> list[str]:
    """Everything a boot made, once no process of it is left (shared by teardown and sweep)."""
    problems = cgroups.remove(cgroup_folders)
    for ns in reversed(namespaces):
        done = subprocess.run(["ip", "netns", "delete", ns], capture_output=True, text=True,
                              env=ENV, check=False)
        if done.returncode != 0 and "No such file" not in done.stderr:
            problems.append(f"ip netns delete {ns}: {done.stderr.strip()}")
    nspawn_run = Path("/run/systemd/nspawn")
    shutil.rmtree(nspawn_run / "propagate" / name, ignore_errors=True)
    # nspawn made these folders on this machine (the host's /run is no tmpfs and no systemd
    # cleans it); each goes once empty, so a parallel guest's folders are left alone.
    for parent in (nspawn_run / "propagate", nspawn_run / "locks", nspawn_run):
        try:
            parent.rmdir()
        except OSError:
            pass
    shutil.rmtree(folder, ignore_errors=True)
    if folder.exists():
        problems.append(f"{folder} could not be removed")
    return problems


def sweep(log=print) -> list[str]:
    """Remove what boots of dead test processes left behind (a run killed with SIGKILL).

    A boot belongs to a dead process when its owner PID is gone or now has another start time.
    Its guest has already been told to power off (parent-death signal); what still runs in its
    cgroups is killed by PID, then its namespaces, cgroups and folder are removed."""
    swept = []
    for state_file in boots_folder().glob("*/state.json"):
        try:
            state = json.loads(state_file.read_text())
        except (OSError, ValueError):
            continue
        if _start_time(state["owner"]) == state["owner_start"]:
            continue  # its test process still runs (maybe a parallel run): not ours to touch
        folders = [Path(c) for c in state["cgroups"]]
        if state.get("nspawn") and _start_time(state["nspawn"]) == state.get("nspawn_start"):
            _kill(state["nspawn"], signal.SIGTERM)
            end = time.monotonic() + POWEROFF_WITHIN
            while _start_time(state["nspawn"]) == state["nspawn_start"] and time.monotonic() < end:
                time.sleep(0.1)
        cgroups.kill_all(folders)
        problems = _remove(state["name"], state["namespaces"], folders, state_file.parent)
        log(f"systemvm: swept the leftovers of {state['name']} (owner {state['owner']} is gone)"
            + (f"; problems: {problems}" if problems else ""))
        swept.append(state["name"])
    # Boot folders without a state file: a boot that died before recording anything.
    for folder in boots_folder().glob("*"):
        if folder.is_dir() and not (folder / "state.json").exists():
            owner = folder.name.split("-")[1] if folder.name.count("-") >= 2 else ""
            if not (owner.isdigit() and Path(f"/proc/{owner}").exists()):
                shutil.rmtree(folder, ignore_errors=True)
    return swept


class GuestFiles:
    """Writes into the guest's root before boot, through the overlay's upper folder.

    A folder created in upper takes the mode and owner of the same folder in the cached tree:
    otherwise the merged view would show upper's (a 0755 /root, for instance). Only adds and
    overwrites; nothing in the cached tree can be deleted this way (that would need whiteouts)."""

    def __init__(self, lower: Path, upper: Path):
        self.lower, self.upper = lower, upper

    def _parents(self, relative: Path) -> None:
        for depth in range(1, len(relative.parts)):
            part = Path(*relative.parts[:depth])
            below, above = self.lower / part, self.upper / part
            if below.is_symlink():
                raise ValueError(f"/{part} is a symlink in the guest: write to its target instead")
            if not above.exists():
                above.mkdir()
                if below.is_dir():
                    stat = below.stat()
                    os.chown(above, stat.st_uid, stat.st_gid)
                    above.chmod(stat.st_mode & 0o7777)

    def write(self, guest_path: str, data: str | bytes, mode: int = 0o644, owner: tuple[int, int] = (0, 0)) -> None:
        relative = Path(guest_path.lstrip("/"))
        self._parents(relative)
        target = self.upper / relative
        if target.is_symlink():
            target.unlink()
        target.write_bytes(data.encode() if isinstance(data, str) else data)
        os.chown(target, *owner)
        target.chmod(mode)

    def mkdir(self, guest_path: str, mode: int = 0o755) -> None:
        relative = Path(guest_path.lstrip("/"))
        self._parents(relative / "x")
        (self.upper / relative).chmod(mode)

    def symlink(self, guest_path: str, target: str) -> None:
        relative = Path(guest_path.lstrip("/"))
        self._parents(relative)
        link = self.upper / relative
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(target)


@contextlib.contextmanager
def _signals_held():
    """Ctrl-C, SIGTERM and SIGHUP recorded instead of acted on, in the main thread (where
    Python runs handlers); the list of those that arrived."""
    held: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield held
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    for sig in previous:
        signal.signal(sig, lambda signum, frame: held.append(signum))
    try:
        yield held
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


_forwarding = False


def _forward_termination() -> None:
    """SIGTERM and SIGHUP (left at their defaults) raise KeyboardInterrupt, so that finally
    blocks and fixture finalisers tear the guest down instead of the process just ending."""
    global _forwarding
    if _forwarding:
        return
    _forwarding = True

    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) == signal.SIG_DFL:
            signal.signal(sig, interrupt)


if __name__ == "__main__":
    if sys.argv[1:] == ["--sweep"]:
        print(f"swept: {sweep()}")
    else:
        sys.exit("usage: python3 -m tests.systemvm.guest --sweep")
