"""`make systemvm-shell`: a laid-out router guest and a root shell inside it, for a person.

Boots the same guest the tests use (the .deb from dist/ installed, the router's services under
their units), opens bash inside it through nsenter, and tears everything down when that shell
exits, also on Ctrl-C during the boot, SIGTERM or SIGHUP (a closed terminal).
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.systemvm import layout, rootfs
from tests.systemvm.guest import GUEST_ENV, GUEST_IP, GuestError


def main() -> int:
    if os.geteuid() != 0:
        print("systemvm-shell: run as root (namespaces, cgroups, systemd-nspawn)", file=sys.stderr)
        return 2
    scratch = Path(tempfile.mkdtemp(prefix="vrmonitor-systemvm-shell-"))
    bed = None
    try:
        key = layout.make_key(scratch / "ms")
        bed = layout.boot_router(key)
        g = bed.guest
        print(f"systemvm: booted {g.name} in {g.timings['boot']:.2f} s, laid out in "
              f"{bed.timings['layout']:.2f} s ({bed.deb.name}); vrmonitor is "
              f"{bed.unit_state('vrmonitor')}.\n"
              f"  the management server's side, from another terminal:\n"
              f"    ip netns exec {g.mgmt_ns} ssh -p {layout.SSH_PORT} -i {key} "
              f"-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null root@{GUEST_IP}\n"
              f"  exit the shell to power the guest off and remove everything.", flush=True)
        env = {**GUEST_ENV, "TERM": os.environ.get("TERM", "xterm")}
        # Ctrl-C belongs to the shell inside: a no-op handler here (not SIG_IGN, which the
        # shell would inherit). SIGTERM and SIGHUP still end this process, and the guest.
        signal.signal(signal.SIGINT, lambda signum, frame: None)
        shell = subprocess.Popen(g.enter(["/bin/bash", "--login"]), env=env)
        return shell.wait()
    except (GuestError, rootfs.RootfsError) as error:
        print(f"systemvm-shell: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as interrupted:
        print(f"systemvm-shell: interrupted ({str(interrupted) or 'Ctrl-C'})", file=sys.stderr)
        return 130
    finally:
        if bed is not None:
            try:
                problems = bed.guest.teardown()
            except KeyboardInterrupt:  # a signal held during teardown; the guest is gone anyway
                problems = []
            print(f"systemvm: torn down in {bed.guest.timings['teardown']:.2f} s"
                  + (f"; problems: {problems}" if problems else ""))
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
