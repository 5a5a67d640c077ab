"""Which health checks exist (contract 3.3) and which of them may run (the trust policy).

Every regular, executable file directly in the checks folder is a check; non-executable files,
sub-folders (the built-in checks' `utility/` package), dangling symbolic links and names the
management server excluded are not. Nor is a check whose name the server could not read back
from the failing list (a comma, `FAILING CHECKS`, `MONITOR RESULTS`, a control character), or
whose name is not UTF-8 (the results are UTF-8 JSON): it is logged, its bytes escaped, and not
run; the other checks run as usual. The name reported to the management server is the file
name. Checks are returned sorted by name, so that runs and result files are deterministic (the
reference used the directory listing order, which is arbitrary).

Trust policy (interface.md section 5), with trust = "strict": a check runs only when the file
and every folder from it up to and including the trust root (the `--root` folder; `/` on a real
VM) is owned by root and not writable by group or others, and, when it is a symbolic link, only
when its target lies inside the checks folder. Anyone able to change such a file or folder
could otherwise have root run their code. trust = "off" disables the policy.

Because the walk stops at the trust root, a test may put its root in a world-writable `/tmp`
(mode 1777): the root folder it creates must itself be owned by root and have mode 0755 (or
stricter), and so must every folder below it on the way to the checks.

Messages name the contract paths (`/root/health_checks/x.sh`), not the relocated ones.
"""

import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from vrmonitor.cloudstack.health_results import MODE_PHRASES
from vrmonitor.cloudstack.utf8 import is_utf8

LOG = logging.getLogger(__name__)

STRICT = "strict"
OFF = "off"


@dataclass(frozen=True)
class Check:
    """One health check script.

    name: the file name, as reported to the management server (e.g. "cpu_usage_check.py").
    path: absolute path to run, symbolic links resolved.
    refused: None when it may run; else why it is not run (the trust policy), for the result.
    """

    name: str
    path: Path
    refused: str | None


def discover(folder: Path, excluded: Iterable[str], trust: str,
             trust_root: Path) -> tuple[list[Check], str | None]:
    """(checks sorted by name, problem) for the checks folder `folder`.

    excluded: names not to run (exact match); they are left out of the list altogether.
    trust: "strict" applies the trust policy (see the module docstring), "off" does not; any
      other value is treated as "strict".
    trust_root: the `--root` folder, where the ownership walk stops and from which the contract
      paths in messages are computed.
    problem: None, or one message when the folder is missing or cannot be read (checks is then
      empty).
    """
    root = Path(os.path.abspath(trust_root)).resolve()
    folder = Path(os.path.abspath(folder))
    namer = _ContractNames(root)
    try:
        with os.scandir(folder) as listing:
            names = sorted(entry.name for entry in listing)
    except FileNotFoundError:
        return [], f"health checks folder {namer(folder)} is missing"
    except NotADirectoryError:
        return [], f"health checks folder {namer(folder)} is not a folder"
    except OSError as exc:
        return [], f"health checks folder {namer(folder)} cannot be read: {exc.strerror or exc}"

    skip = set(excluded)
    real_folder = folder.resolve()
    verdicts: dict[Path, str | None] = {}
    checks = []
    for name in names:
        if name in skip:
            LOG.debug("health check %r is excluded", name)
            continue
        unreadable = _unreadable_name(name)
        if unreadable:
            LOG.warning("health check %s is not run: %s", _shown(name), unreadable)
            continue
        link = folder / name
        if not _is_executable_file(link):
            continue
        target = link.resolve()
        refused = None
        if trust != OFF:
            refused = _refusal(link, target, real_folder, root, namer, verdicts)
            if refused:
                LOG.warning("health check %s %s", name, refused)
        checks.append(Check(name, target, refused))
    return checks, None


def _unreadable_name(name: str) -> str | None:
    """Why the management server could not read `name` back from the failing list, or None.

    The server reads the failing list line by line and splits it on commas (contract 3.6): a
    name with a comma would reach it as two checks; one with a phrase that switches its parser's
    mode would lose every failing check after it; a control character would split the line.
    A name that is not UTF-8 cannot be written to the results, which are UTF-8."""
    if not is_utf8(name):
        return "its name is not UTF-8"
    if "," in name:
        return "its name has a comma, which the management server reads as two checks"
    if any(phrase in name for phrase in MODE_PHRASES):
        return "its name holds a phrase that switches the management server's parser"
    if any(ch < " " or ch == "\x7f" for ch in name):
        return "its name has a control character"
    return None


def _shown(name: str) -> str:
    """The name quoted for a log line; one that is not UTF-8 as its bytes (b'\\xff.sh')."""
    return repr(name) if is_utf8(name) else repr(os.fsencode(name))


def _is_executable_file(path: Path) -> bool:
    """A regular file (after following links) that this process may execute."""
    try:
        info = path.stat()
    except OSError:  # dangling link, vanished meanwhile, unreadable
        return False
    return stat.S_ISREG(info.st_mode) and os.access(path, os.X_OK)


class _ContractNames:
    """Turns a real path into the path it has on a VM (`/root/...`) when under the root."""

    def __init__(self, root: Path):
        self.root = root
        self.unresolved = Path(os.path.abspath(root))

    def __call__(self, path: Path) -> str:
        for base in (self.unresolved, self.root):
            try:
                relative = path.relative_to(base)
            except ValueError:
                continue
            return "/" + str(relative) if str(relative) != "." else "/"
        return str(path)


def _refusal(link: Path, target: Path, real_folder: Path, root: Path, namer: _ContractNames,
             verdicts: dict[Path, str | None]) -> str | None:
    """Why the check at `link` (resolving to `target`) must not run, or None."""
    if link.is_symlink() and (target == real_folder or not target.is_relative_to(real_folder)):
        return (f"not run: {namer(link)} is a symbolic link to {namer(target)}, "
                f"outside {namer(real_folder)}")
    for path in _up_to(target, root):
        if path not in verdicts:
            verdicts[path] = _unsafe(path, namer)
        if verdicts[path]:
            return verdicts[path]
    return None


def _up_to(path: Path, root: Path) -> Iterable[Path]:
    """`path`, then each folder above it, up to and including `root` (or `/` if not under it)."""
    yield path
    for parent in path.parents:
        yield parent
        if parent == root:
            return


def _unsafe(path: Path, namer: _ContractNames) -> str | None:
    """Why `path` (file or folder) cannot be trusted, or None when root owns it and only root writes it."""
    try:
        info = path.stat()
    except OSError as exc:
        return f"not run: cannot inspect {namer(path)}: {exc.strerror or exc}"
    mode = stat.S_IMODE(info.st_mode)
    if info.st_uid != 0:
        return f"not run: {namer(path)} is owned by uid {info.st_uid}, not root (mode {mode:04o})"
    if mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"not run: {namer(path)} is writable by group or others (mode {mode:04o})"
    return None
