"""The answer of `getRouterMonitorResults.sh false`, composed once and published.

The answer is a function of four files in /root: each kind's results and failing-checks file.
Whoever has just composed it from files that did not change meanwhile (a health run after its
write, or a poll that had to compose it) publishes it in one file, written atomically: a first
line naming the four files as they were (IDENTITY_FORMAT), then the exact bytes of the answer.

A poll serves the published bytes when the four files are still those the first line names;
otherwise it composes the answer from the files, as before. A file replaced (a new inode), edited
in place (a new mtime and ctime), created or removed never matches, so a served answer is
byte for byte what composing would give. The installed getRouterMonitorResults.sh does this
check in sh with GNU stat, whose `--printf` output the first line reproduces, so the common
poll starts no Python at all.
"""

import os
import stat
import time

from vrmonitor import __version__

KINDS = ("basic", "advanced")
# The version: an answer published by another version (before an upgrade rewrote the installed
# scripts) is composed again, in case the format changed.
MAGIC = f"vrmonitor-answer-{__version__}"
# GNU stat's format (with -L: a symlink counts as its target); identity() writes the same text.
IDENTITY_FORMAT = "%n %d %i %s %f %.9Y %.9Z;"
# A run's two renames are microseconds apart; 20 x 10 ms covers a writer descheduled between them.
SETTLE_ATTEMPTS = 20
SETTLE_PAUSE = 0.01
# A poll does not wait for another publisher; a health run waits at most this long.
PUBLISH_WAIT = 1.0


def sources(paths) -> list[str]:
    """The four files the answer is made of, in the order their identities are written."""
    return [str(path) for kind in KINDS
            for path in (paths.results_file(kind), paths.failing_file(kind))]


def identity(paths) -> str | None:
    """The sources' stat_identity()."""
    return stat_identity(sources(paths))


def stat_identity(names: list[str]) -> str | None:
    """What `stat -L --printf IDENTITY_FORMAT NAMES` prints (an absent file prints nothing);
    None when one is not a regular file or cannot be examined."""
    parts = []
    for name in names:
        try:
            info = os.stat(name)
        except FileNotFoundError:
            continue
        except OSError:
            return None
        if not stat.S_ISREG(info.st_mode) or info.st_mtime_ns < 0 or info.st_ctime_ns < 0:
            return None
        parts.append(f"{name} {info.st_dev} {info.st_ino} {info.st_size} {info.st_mode:x} "
                     f"{_seconds(info.st_mtime_ns)} {_seconds(info.st_ctime_ns)};")
    return "".join(parts)


def published(paths) -> str | None:
    """The published answer when it still matches the files, else None."""
    try:
        with open(paths.results_answer, "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    header, newline, body = data.partition(b"\n")
    if not newline or header != f"{MAGIC} {identity(paths)}".encode("utf-8", "surrogateescape"):
        return None
    return body.decode("utf-8")


def current(paths) -> str:
    """The answer: the published one when it matches the files, else composed (and published
    when the files held still while they were read)."""
    answer = published(paths)
    if answer is None:
        answer = publish(paths, wait=0)
    return answer


def publish(paths, wait: float = PUBLISH_WAIT) -> str:
    """Compose the answer and publish it when the files held still meanwhile; return it.

    Publishers take turns (one lock), so the last one to publish read the newest files. A
    publisher that cannot have its turn within `wait` seconds, or cannot write (a full /run),
    publishes nothing: the polls then compose the answer themselves."""
    import logging

    from vrmonitor.system.files import atomic_write
    from vrmonitor.system.locks import LockTimeout, held

    try:
        with held(paths.results_answer_lock, exclusive=True, wait=wait):
            before = identity(paths)
            answer = compose(paths)
            if before is not None and identity(paths) == before:
                header = f"{MAGIC} {before}\n".encode("utf-8", "surrogateescape")
                atomic_write(paths.results_answer, header + answer.encode("utf-8"), mode=0o600)
            return answer
    except LockTimeout:
        pass
    except OSError as exc:
        logging.getLogger(__name__).warning("%s not published: %s", paths.results_answer, exc)
    return compose(paths)


def compose(paths) -> str:
    """Contract 3.6's answer from the files, each printed verbatim."""
    read = {kind: consistent_pair(paths, kind) for kind in KINDS}
    lines = ["FAILING CHECKS:"]
    for kind in KINDS:
        failing = read[kind][0]
        if failing is not None:
            lines.append(failing.rstrip("\n"))
    lines.append("MONITOR RESULTS:")
    for prefix, kind in (('{"basic":', "basic"), (',"advanced":', "advanced")):
        lines.append(prefix)
        document = read[kind][1]
        lines.append(document.rstrip("\n") if document else "{}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def consistent_pair(paths, kind: str) -> tuple[str | None, str | None]:
    """(failing file, results file) of the same run of `kind`, each None when absent.

    A run renames its results file and then its failing file: a reader between the two renames
    would pair one run's failing list with the next run's results. The pair is read again until
    the failing file names what the results say fails; should that not settle (a writer that
    died between the renames), the failing list is taken from the results.
    """
    from vrmonitor.cloudstack.health_results import failing_in

    expected = None
    for _ in range(SETTLE_ATTEMPTS):
        document = _read(paths.results_file(kind))
        failing = _read(paths.failing_file(kind))
        expected = failing_in(document) if document else None
        if expected is None or _names(failing) == set(expected):
            return failing, document
        time.sleep(SETTLE_PAUSE)
    return (",".join(expected) if expected else None), document


def _names(failing: str | None) -> set[str]:
    return {name.strip() for name in (failing or "").split(",") if name.strip()}


def _seconds(nanoseconds: int) -> str:
    """A file time as GNU stat's `%.9Y` writes it."""
    return f"{nanoseconds // 1_000_000_000}.{nanoseconds % 1_000_000_000:09d}"


def _read(path) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except FileNotFoundError:
        return None
