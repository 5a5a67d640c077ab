"""daemon.json read back as the next daemon and `vrmonitor status` read it."""

import json

from vrmonitor.paths import Paths
from vrmonitor.services.saved_state import read_daemon_state
from vrmonitor.services.snapshot import ServiceSnapshot


def test_a_service_without_servicename_is_read_back(tmp_path):
    # monitor.conf may name no servicename= (the process name then stands for it): the daemon
    # writes null, and that file is sound, not damaged.
    paths = Paths(tmp_path)
    paths.state_dir.mkdir(parents=True)
    entry = ServiceSnapshot(processname="dnsmasq", servicename=None, state="up", since=1.0)
    state = {"pid": 42, "services": {"dhcp": entry.to_dict()}}
    paths.daemon_state.write_text(json.dumps(state))
    read = read_daemon_state(paths)
    assert read is not None and read["services"]["dhcp"]["servicename"] is None
    assert ServiceSnapshot.from_dict(read["services"]["dhcp"]) == entry
    assert list(paths.state_dir.iterdir()) == [paths.daemon_state]  # nothing set aside
