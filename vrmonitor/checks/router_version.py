"""router_version_check.py (basic): template and scripts versions against routerVersion
(contract 3.5).

The first line (stripped) of /etc/cloudstack-release must equal `templateVersion`, and the
first line of /var/cache/cloud/cloud-scripts-signature must equal `scriptsVersion`; each
mismatch is one line of the message. A missing (or empty) release file is not a failure:
the router is not set up yet, which the message says (followed by the pass message when the
scripts version was compared and matched, as in the reference). A missing or empty signature
file is a failure naming the file (the reference printed "not yet setup" and then crashed
concatenating None). A record with neither key is treated as no data.
"""

from pathlib import Path

from vrmonitor.checks.context import CheckInputs, answer, applies, unreadable
from vrmonitor.errors import ConfigError
from vrmonitor.paths import Paths

KIND = "basic"
RELEASE = "/etc/cloudstack-release"
SIGNATURE = "/var/cache/cloud/cloud-scripts-signature"


class Unreadable(Exception):
    """A version file exists but cannot be read; the message says why."""


class Missing(Exception):
    """A version file is missing or has no line; the message says which."""


def first_line(path: Path, vm_path: str) -> str:
    """The first line of the file, stripped (Missing, Unreadable: the file gave none)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise Missing(f"{vm_path}: {exc.strerror}") from exc
    except OSError as exc:
        raise Unreadable(f"{vm_path}: {exc.strerror or exc}") from exc
    lines = data.decode("utf-8", "replace").splitlines()
    if not lines:
        raise Missing(f"{vm_path} is empty")
    return lines[0].strip()


def check(data: dict[str, str], paths: Paths) -> tuple[list[str], bool]:
    """The message lines and whether both versions match."""
    lines, ok, compared = [], True, False
    if "templateVersion" in data:
        expected = data["templateVersion"].strip()
        try:
            found = first_line(paths.release_file, RELEASE)
        except Missing:
            lines.append(f"Release version not yet setup at {RELEASE}, skipping.")
        except Unreadable as exc:
            lines.append(f"Template Version mismatch. Expected: {expected}, found: nothing ({exc})")
            ok = False
        else:
            compared = True
            if found != expected:
                lines.append(f"Template Version mismatch. Expected: {expected}, found: {found}")
                ok = False
    if "scriptsVersion" in data:
        expected = data["scriptsVersion"].strip()
        try:
            found = first_line(paths.scripts_signature, SIGNATURE)
        except (Missing, Unreadable) as exc:
            lines.append(f"Scripts Version mismatch. Expected: {expected}, found: nothing ({exc})")
            ok = False
        else:
            compared = True
            if found != expected:
                lines.append(f"Scripts Version mismatch. Expected: {expected}, found: {found}")
                ok = False
    if ok and compared:
        lines.append("Template and scripts version match successful")
    return lines, ok


def main(argv: list[str], root: str) -> int:
    if not applies(argv, KIND):
        return 0
    paths = Paths.from_option(root)
    try:
        records = CheckInputs(paths).records("routerVersion")
    except ConfigError as exc:
        return unreadable(exc.problems)
    data = records[0] if records else {}
    if "templateVersion" not in data and "scriptsVersion" not in data:
        return answer("Missing routerVersion in health_checks_data, skipping", ok=True)
    lines, ok = check(data, paths)
    return answer("\n".join(lines), ok)
