"""The services and the health data of the SSVM and CPVM (issue 18, docs/system-vms.md)."""

import json
import os
import subprocess
import sys

from vrmonitor.cloudstack import local_health_data
from vrmonitor.cloudstack.health_data import config_records
from vrmonitor.config.settings import SystemVmSettings
from vrmonitor.paths import Paths
from vrmonitor.services.source import ServiceSource, agent_pids, refresh_agent_pidfile


def _role(tmp_path, text):
    paths = Paths(tmp_path)
    paths.cmdline.parent.mkdir(parents=True, exist_ok=True)
    paths.cmdline.write_text(text)
    return paths


def test_secstorage_watches_ssh_apache2_and_the_agent(tmp_path):
    paths = _role(tmp_path, "type=secstorage name=s-1-VM")
    entries, stamp = ServiceSource(paths).load()
    assert [(e.section, e.processname, e.servicename) for e in entries] == [
        ("ssh", "sshd", "ssh"), ("webserver", "apache2", "apache2"), ("cloud", "java", "cloud")]
    assert entries[2].pidfile == str(paths.run_dir / "cloud-agent.pid")
    assert stamp == ("role", "secstorage")


def test_consoleproxy_watches_ssh_and_the_agent(tmp_path):
    entries, _ = ServiceSource(_role(tmp_path, "type=consoleproxy")).load()
    assert [e.section for e in entries] == ["ssh", "cloud"]


def test_a_router_reads_monitor_conf_as_before(tmp_path):
    paths = _role(tmp_path, "type=router")
    paths.monitor_conf.parent.mkdir(parents=True, exist_ok=True)
    paths.monitor_conf.write_text("[ssh]\nprocessname=sshd\nservicename=ssh\npidfile=/run/sshd.pid\n")
    entries, _ = ServiceSource(paths).load()
    assert [e.section for e in entries] == ["ssh"]
    assert ServiceSource(Paths(tmp_path / "none")).load()[0] == ()


def test_the_agents_pid_is_found_by_its_main_class(tmp_path):
    # A stand-in: CloudStack's Java agent cannot run here; a process with its main class in
    # its command line is what the search looks for.
    stand_in = subprocess.Popen([sys.executable, "-c", "import time; print('ready', flush=True); time.sleep(30)",
                                 "com.cloud.agent.AgentShell", "zone=1"], stdout=subprocess.PIPE, text=True)
    try:
        # Popen returns when exec begins; the new command line is readable once it runs.
        assert stand_in.stdout.readline() == "ready\n"
        assert stand_in.pid in agent_pids()
        paths = Paths(tmp_path)
        refresh_agent_pidfile(paths)
        # The lowest agent PID: another test's stand-in may run at the same time.
        assert (paths.run_dir / "cloud-agent.pid").read_text() == f"{agent_pids()[0]}\n"
    finally:
        stand_in.kill()
        stand_in.wait()
        stand_in.stdout.close()
    assert stand_in.pid not in agent_pids()
    (paths.run_dir / "cloud-agent.pid").write_text(f"{stand_in.pid}\n")
    if not agent_pids():
        refresh_agent_pidfile(paths)  # no agent: the pidfile names the dead one, judged down
        assert (paths.run_dir / "cloud-agent.pid").read_text() == f"{stand_in.pid}\n"


def test_health_data_written_from_the_settings(tmp_path):
    paths = Paths(tmp_path)
    settings = SystemVmSettings(url_domain="*.cp.example.com", io_timeout=5.0)
    assert local_health_data.sync(paths, settings).endswith("written from [systemvm]")
    document = json.loads(paths.health_checks_data.read_text())
    assert document["health_checks_basic_run_interval"] == 3
    assert document["health_checks_advanced_run_interval"] == 10
    assert document["health_checks_enabled"] is True
    assert "gateways_check.py" in document["excluded_health_checks"]
    assert config_records(paths.health_checks_data, "systemVmThresholds") == [
        {"minDaysLeft": "30", "urlDomain": "*.cp.example.com", "ioTimeout": "5",
         "dnsCheckName": "cloudstack.apache.org", "bootGrace": "300"}]
    assert config_records(paths.health_checks_data, "systemThresholds") == [
        {"minDiskNeeded": "100.0", "maxCpuUsage": "100.0", "maxMemoryUsage": "100.0"}]
    # A change of the settings rewrites it; a file another writer put there is left alone.
    assert local_health_data.sync(paths, SystemVmSettings(basic_interval=1)).endswith("written from [systemvm]")
    paths.health_checks_data.write_text("{}")
    assert "not written by vrmonitor" in local_health_data.sync(paths, settings)
    assert paths.health_checks_data.read_text() == "{}"


def test_status_names_the_role(tmp_path):
    paths = _role(tmp_path, "type=consoleproxy name=v-2-VM")
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    done = subprocess.run([sys.executable, "-m", "vrmonitor", "--root", str(tmp_path), "status"],
                          capture_output=True, text=True, env=env)
    assert "role: consoleproxy (v-2-VM)\n" in done.stdout, done
    done = subprocess.run([sys.executable, "-m", "vrmonitor", "--root", str(tmp_path), "status", "--json"],
                          capture_output=True, text=True, env=env)
    assert json.loads(done.stdout)["role"] == {"type": "consoleproxy", "name": "v-2-VM"}
    paths.cmdline.unlink()
    done = subprocess.run([sys.executable, "-m", "vrmonitor", "--root", str(tmp_path), "status"],
                          capture_output=True, text=True, env=env)
    assert "role: unknown (no /var/cache/cloud/cmdline)\n" in done.stdout


def test_a_recovery_job_on_a_system_vm_records_the_agent_after_asking_the_init_system(tmp_path):
    # The unit's own Restart= may start the agent while the job asks systemd about it: the PID
    # is recorded after the answer, so the job sees the agent running and does not restart it.
    paths = _role(tmp_path, "type=secstorage")
    calls = []

    class Init:
        name = "systemd"

        def assess(self, service):
            calls.append(("assess", service))
            return "assessment"

    source = ServiceSource(paths)
    source.refresh_agent = lambda: calls.append(("refresh",))
    wrapped = source.recovery_init(Init())
    assert wrapped.assess("cloud") == "assessment" and wrapped.name == "systemd"
    assert calls == [("assess", "cloud"), ("refresh",)]
    router = Init()
    assert ServiceSource(_role(tmp_path / "r", "type=router")).recovery_init(router) is router
