"""The system VM test bed: vrmonitor under a real systemd, in a Debian 12 guest (issue 14).

    rootfs.py   the guest's tree: mmdebstrap --variant=minbase, cached by a hash of its recipe
    cgroups.py  the guest's own cgroup folder in every host hierarchy
    launch.py   the launcher: cgroups joined, root overlay mounted privately, exec nspawn
    guest.py    Guest: boot in its own network namespace, run commands inside, always tear down
    layout.py   the guest laid out as a CloudStack router, the .deb installed with dpkg -i
    conftest.py the module-scoped `router` fixture
    shell.py    `make systemvm-shell`

Run as root, after ./scripts/build-deb:  /usr/bin/python3 -m pytest tests/systemvm  (make systemvm).
The rootfs cache is $VRMONITOR_SYSTEMVM_CACHE or /var/cache/vrmonitor-systemvm; boots leave
nothing there but the cached tree. Facts and pitfalls: ../shared/system-vm-testbed.md.
"""
