"""The guest's root file system: Debian 12 (bookworm) built by mmdebstrap, cached between runs.

Why a cache: building takes 20-60 s, booting under a second. The tree is built once per recipe
and then only ever read: each boot lays a private overlay over it (guest.py), so no test sees
another test's changes and the cached tree stays pristine.

The cache key is a hash of everything that shapes the tree: the package list, the suites and
components, the variant and RECIPE (bump it when the post-build edits below change). The
archive's address is deliberately not in the key: it is read from the host's own apt sources at
run time (never written into the project), and another mirror of the same suite gives the same
tree.

Cache folder: $VRMONITOR_SYSTEMVM_CACHE, else /var/cache/vrmonitor-systemvm (outside the checkout,
so `git clean` keeps it and a CI machine can keep it between runs).
"""

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

SUITE = "bookworm"  # the systemvm template's Debian release; the archive itself comes from the host
VARIANT = "minbase"
RECIPE = "3"  # bump when finish() changes what it writes into the tree

# What a CloudStack router runs: systemd as PID 1 and the four watched services.
ROUTER_PACKAGES = (
    "systemd", "systemd-sysv", "dbus", "python3", "openssh-server", "iproute2", "procps", "cron",
    "dnsmasq", "haproxy", "apache2",
)
# The vrmonitor .deb's run-time dependencies and the tools its checks and diagnostics are
# compared with: present in the tree because the guest has no network to fetch them.
VRMONITOR_DEPENDENCIES = (
    "python3-psutil", "python3-netifaces", "python3-scapy", "python3-daemon", "python3-jsonschema",
    "libpcap0.8", "iptables", "iputils-ping", "iputils-arping", "traceroute",
)
PACKAGES = tuple(sorted(set(ROUTER_PACKAGES + VRMONITOR_DEPENDENCIES)))

DEB822_SOURCES = Path("/etc/apt/sources.list.d/debian.sources")
ONE_LINE_SOURCES = Path("/etc/apt/sources.list")
BUILD_TIMEOUT = 900.0


class RootfsError(RuntimeError):
    """The rootfs cannot be built here (no mmdebstrap, no usable apt source, a failed build)."""


@dataclass(frozen=True)
class Source:
    """One archive entry of the host's apt configuration."""
    uri: str
    suite: str
    components: tuple[str, ...]
    signed_by: str | None = None

    def one_line(self) -> str:
        """The entry as mmdebstrap takes a MIRROR argument."""
        options = f"[signed-by={self.signed_by}] " if self.signed_by else ""
        return f"deb {options}{self.uri} {self.suite} {' '.join(self.components)}"


def cache_root() -> Path:
    return Path(os.environ.get("VRMONITOR_SYSTEMVM_CACHE") or "/var/cache/vrmonitor-systemvm")


def host_sources() -> list[Source]:
    """The host's bookworm archive entries (bookworm, bookworm-updates, bookworm-security, ...).

    Read from the deb822 file Debian 12 installs, or from a one-line sources.list. Entries for
    other suites and `deb-src` entries are ignored."""
    sources = []
    if DEB822_SOURCES.exists():
        sources = _parse_deb822(DEB822_SOURCES.read_text())
    elif ONE_LINE_SOURCES.exists():
        sources = _parse_one_line(ONE_LINE_SOURCES.read_text())
    wanted = [s for s in sources if s.suite == SUITE or s.suite.startswith(f"{SUITE}-")]
    if not any(s.suite == SUITE for s in wanted):
        raise RootfsError(f"no `{SUITE}` entry in {DEB822_SOURCES} or {ONE_LINE_SOURCES}: "
                          "the guest is built from the archive the host's apt already uses")
    return wanted


def _parse_deb822(text: str) -> list[Source]:
    sources = []
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line.startswith("#") or ":" not in line or line[:1].isspace():
                continue
            key, value = line.split(":", 1)
            fields[key.strip().lower()] = value.strip()
        if "deb" not in fields.get("types", "").split() or fields.get("enabled", "yes") == "no":
            continue
        for uri in fields.get("uris", "").split():
            for suite in fields.get("suites", "").split():
                sources.append(Source(uri, suite, tuple(fields.get("components", "main").split()),
                                      fields.get("signed-by")))
    return sources


def _parse_one_line(text: str) -> list[Source]:
    sources = []
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if not words or words[0] != "deb":
            continue
        words = words[1:]
        signed_by = None
        if words and words[0].startswith("["):
            options = []
            while words:
                options.append(words.pop(0))
                if options[-1].endswith("]"):
                    break
            for option in " ".join(options).strip("[]").split():
                if option.startswith("signed-by="):
                    signed_by = option.split("=", 1)[1]
        if len(words) >= 2:
            sources.append(Source(words[0], words[1], tuple(words[2:]) or ("main",), signed_by))
    return sources


def cache_key(sources: list[Source]) -> str:
    """A hash of what shapes the tree (not of the mirror's address)."""
    recipe = {
        "recipe": RECIPE,
        "variant": VARIANT,
        "packages": PACKAGES,
        "suites": sorted({(s.suite, s.components) for s in sources}),
        "finish": FINISH_FILES,
        "masked": MASKED_UNITS,
    }
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]


# Edits to the tree after mmdebstrap, part of the cache key. They are what any container image
# of Debian does, not router layout (that is per boot: layout.py).
FINISH_FILES = {
    # No host name lookups leave the guest: its own dnsmasq answers (layout.py); before that is
    # up, "connection refused" fails a lookup at once instead of a 5 s timeout.
    "etc/resolv.conf": "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n",
    # mmdebstrap copies these two from the build machine; the guest gets neutral ones.
    "etc/hostname": "systemvm\n",
    "etc/hosts": "127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n",
}
# Units a container has no use for, masked to keep the boot short and the journal quiet.
MASKED_UNITS = (
    "apt-daily.timer", "apt-daily-upgrade.timer", "e2scrub_all.timer", "fstrim.timer",
    "systemd-networkd-wait-online.service", "console-getty.service",
)


def finish(tree: Path) -> None:
    """The container-image edits: FINISH_FILES and MASKED_UNITS."""
    for relative, text in FINISH_FILES.items():
        target = tree / relative
        if target.is_symlink() or target.exists():
            target.unlink()
        target.write_text(text)
    systemd = tree / "etc/systemd/system"
    systemd.mkdir(parents=True, exist_ok=True)
    for unit in MASKED_UNITS:
        link = systemd / unit
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to("/dev/null")


@dataclass(frozen=True)
class Rootfs:
    path: Path  # the cached, read-only tree (never booted directly)
    key: str
    built: bool  # True when this call built it, False when it came from the cache
    seconds: float


def ensure(log=print) -> Rootfs:
    """The cached tree for the current recipe, built first if missing.

    Concurrent callers (two test runs) serialise on a lock file; the tree appears under its
    final name only when complete, so an interrupted build leaves no half tree behind the key
    (its temporary folder is removed by the next build)."""
    if shutil.which("mmdebstrap") is None:
        raise RootfsError("mmdebstrap is not installed (./scripts/setup-test-env installs it)")
    sources = host_sources()
    key = cache_key(sources)
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    tree = root / f"rootfs-{key}"
    started = time.monotonic()
    with open(root / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (tree / "usr/lib/systemd/systemd").exists():
            return Rootfs(tree, key, False, time.monotonic() - started)
        for stale in root.glob("rootfs-*.partial"):
            shutil.rmtree(stale, ignore_errors=True)
        partial = root / f"rootfs-{key}.partial"
        argv = ["mmdebstrap", "--quiet", f"--variant={VARIANT}", "--mode=root",
                "--include=" + ",".join(PACKAGES), SUITE, str(partial),
                *(source.one_line() for source in sources)]
        log(f"systemvm: building the guest rootfs {key} with mmdebstrap ({len(PACKAGES)} packages)")
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=BUILD_TIMEOUT, env=env, check=False)
        if done.returncode != 0:
            shutil.rmtree(partial, ignore_errors=True)
            raise RootfsError(f"mmdebstrap exit {done.returncode}:\n{done.stderr[-4000:]}")
        finish(partial)
        partial.rename(tree)
        # Trees of older recipes are dropped: one tree (~300 MB) is kept, not one per change.
        for old in root.glob("rootfs-*"):
            if old != tree and old.is_dir():
                shutil.rmtree(old, ignore_errors=True)
    return Rootfs(tree, key, True, time.monotonic() - started)


def disk_usage(path: Path) -> int:
    """Bytes used by a tree (du's apparent logic without following symlinks)."""
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_blocks * 512
            except OSError:
                continue
    return total


if __name__ == "__main__":
    made = ensure()
    print(f"{made.path} ({'built' if made.built else 'cached'} in {made.seconds:.1f} s, "
          f"{disk_usage(made.path) / 2**20:.0f} MiB)")
