"""Service entries of the basic results file, from the monitor's state (contract 3.4, A3-A5)."""

from vrmonitor.cloudstack.service_results import service_entries

STATE = {
    "ssh": {"state": "up", "restarted_at": None},
    "dhcp": {"state": "up", "restarted_at": 1714557500.0},
    "webserver": {"state": "down", "restarted_at": None},
}


def test_entries_carry_the_contract_messages_and_string_leaves():
    entries, failing = service_entries(STATE, 1714557600.123, previous_run=1714557420.0)
    assert entries == {
        "ssh.service": {"success": "true", "lastUpdate": "1714557600123", "lastRunDuration": "0.0",
                        "message": "service is running"},
        "dhcp.service": {"success": "true", "lastUpdate": "1714557600123", "lastRunDuration": "0.0",
                         "message": "service is running, was restarted"},
        "webserver.service": {"success": "false", "lastUpdate": "1714557600123",
                              "lastRunDuration": "0.0", "message": "service down at last check 1714557600"},
    }
    assert failing == ["webserver.service"]


def test_was_restarted_is_said_once_for_a_restart_before_the_previous_run():
    entries, _ = service_entries(STATE, 1714557800.0, previous_run=1714557600.0)
    assert entries["dhcp.service"]["message"] == "service is running"


def test_the_enum_vocabulary_of_4_22():
    entries, _ = service_entries(STATE, 1714557600.0, None, status_format="enum")
    assert [e["success"] for e in entries.values()] == ["SUCCESS", "SUCCESS", "FAILED"]
