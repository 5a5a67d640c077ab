"""The keepalived (VRRP) state of a redundant CloudStack router, as the router itself records it.

Where the state lives (apache/cloudstack, systemvm/debian/opt/cloud/...):

* `templates/keepalived.conf.templ` makes keepalived call `bin/configure_router.py --primary`,
  `--backup` or `--fault` on each transition (4.16 and later; older routers call
  `bin/master.py --master|--backup|--fault`).
* That script calls `CsRedundant.set_primary()` / `set_backup()` / `set_fault()`
  (`bin/cs/CsRedundant.py`), which record the state through `CsCmdLine.set_primary_state()`
  / `set_fault_state()` (`bin/cs/CsDatabag.py`) and save the `cmdline` data bag.
* Data bags are JSON files in `/etc/cloudstack` (`DataBag.DPATH` in `bin/merge.py`), so the
  state is in `/etc/cloudstack/cmdline.json` under `config`:
  `"redundant_router": "true"` (`"false"` on a single router, written by `cs_cmdline.merge`),
  `"redundant_state": "PRIMARY" | "BACKUP" | "FAULT"` (`"MASTER"` before the 4.16 rename) and
  `"redundant_primary"` (`"redundant_master"` before).

`bin/checkrouter.sh`, which the management server polls for the state it shows, derives it from
the interfaces instead (eth0's address count on a router, eth1's link state on a VPC router),
which needs the live interfaces; the data bag is what the router last decided and can be read
under a --root. Before keepalived's first transition there is no `redundant_state` at all.
"""

import json
import logging

from vrmonitor.paths import Paths

LOG = logging.getLogger(__name__)

CMDLINE = "/etc/cloudstack/cmdline.json"
MASTER, BACKUP, FAULT = "MASTER", "BACKUP", "FAULT"
# The recorded value -> ours; CloudStack 4.16 renamed MASTER to PRIMARY.
STATES = {"MASTER": MASTER, "PRIMARY": MASTER, "BACKUP": BACKUP, "FAULT": FAULT}


def router_state(paths: Paths) -> str | None:
    """MASTER, BACKUP or FAULT for a redundant router; None for a single router, before
    keepalived decided, or when cmdline.json is missing or unreadable (state unknown)."""
    location = paths.under(CMDLINE)
    try:
        document = json.loads(location.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        LOG.warning("%s: cannot read the redundant router state: %s", CMDLINE, exc)
        return None
    config = document.get("config") if isinstance(document, dict) else None
    if not isinstance(config, dict) or str(config.get("redundant_router", "")).lower() != "true":
        return None
    state = config.get("redundant_state")
    return STATES.get(state.strip().upper()) if isinstance(state, str) else None
