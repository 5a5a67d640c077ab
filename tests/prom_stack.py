"""Debian's prometheus-node-exporter and prometheus, run by hand on loopback for the export's
tests: random free ports on 127.0.0.1, every file in a temporary folder, each process ended by
its PID. Nothing here binds or connects anywhere but 127.0.0.1.
"""

import json
import re
import signal
import socket
import subprocess
import urllib.parse
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from tests.waiting import wait_for

PROJECT = Path(__file__).resolve().parents[1]
SHIPPED_RULES = PROJECT / "contrib/prometheus/vrmonitor.rules.yml"
DASHBOARD = PROJECT / "contrib/grafana/vrmonitor-fleet.json"
NODE_EXPORTER = "/usr/bin/prometheus-node-exporter"
PROMETHEUS = "/usr/bin/prometheus"
LOOPBACK = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return probe.getsockname()[1]


def get(url: str, timeout: float = 10.0) -> bytes:
    assert url.startswith(f"http://{LOOPBACK}:"), url
    with urllib.request.urlopen(url, timeout=timeout) as answer:  # noqa: S310 (loopback only)
        return answer.read()


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class NodeExporter:
    def __init__(self, textfile_dir: Path, log: Path):
        self.port = free_port()
        self.address = f"{LOOPBACK}:{self.port}"
        # Only the textfile collector: the test reads vrmonitor's families, not the machine's.
        with open(log, "wb") as out:
            self.process = subprocess.Popen(
                [NODE_EXPORTER, f"--web.listen-address={self.address}", "--collector.disable-defaults",
                 "--collector.textfile", f"--collector.textfile.directory={textfile_dir}"],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        self.log = log

    def metrics(self) -> str:
        return get(f"http://{self.address}/metrics").decode()

    def wait_ready(self) -> None:
        def ready():
            if self.process.poll() is not None:
                raise AssertionError(f"node exporter exited: {self.log.read_text()}")
            try:
                return self.metrics()
            except OSError:
                return None
        wait_for(ready, "node exporter answers", within=30, step=0.1)

    def stop(self) -> None:
        _stop(self.process)


class PrometheusServer:
    def __init__(self, folder: Path, targets: list[str], rules: Path | None, interval: str = "1s"):
        self.port = free_port()
        self.url = f"http://{LOOPBACK}:{self.port}"
        folder.mkdir(parents=True, exist_ok=True)
        config = folder / "prometheus.yml"
        config.write_text(json.dumps({  # YAML is a superset of JSON
            "global": {"scrape_interval": interval, "evaluation_interval": interval,
                       "scrape_timeout": interval},
            "rule_files": [str(rules)] if rules else [],
            "scrape_configs": [{"job_name": "routers", "static_configs": [{"targets": targets}]}],
        }, indent=1))
        self.log = folder / "prometheus.log"
        with open(self.log, "wb") as out:
            self.process = subprocess.Popen(
                [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={folder / 'data'}",
                 f"--web.listen-address={LOOPBACK}:{self.port}", "--log.level=warn"],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd=folder)

    def wait_ready(self) -> None:
        def ready():
            if self.process.poll() is not None:
                raise AssertionError(f"prometheus exited: {self.log.read_text()}")
            try:
                return get(f"{self.url}/-/ready")
            except OSError:
                return None
        wait_for(ready, "prometheus is ready", within=60, step=0.1)

    def api(self, path: str, **params) -> dict:
        answer = json.loads(get(f"{self.url}/api/v1/{path}?{urllib.parse.urlencode(params)}"))
        assert answer["status"] == "success", answer
        return answer["data"]

    def query(self, expr: str) -> list[dict]:
        """The instant vector (or [] for none); an error in the expression fails."""
        data = self.api("query", query=expr)
        result = data["result"]
        return result if data["resultType"] == "vector" else [{"value": result}]

    def value(self, expr: str) -> float | None:
        """The one sample's value, None when the query returns nothing."""
        result = self.query(expr)
        assert len(result) <= 1, result
        return float(result[0]["value"][1]) if result else None

    def firing(self, alertname: str) -> list[dict]:
        return [alert for alert in self.api("alerts")["alerts"]
                if alert["labels"]["alertname"] == alertname and alert["state"] == "firing"]

    def memory(self) -> int:
        """Resident bytes of the server process."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS")

    def stop(self) -> None:
        _stop(self.process)


def quick_rules(folder: Path, for_duration: str = "2s") -> Path:
    """The shipped rules with every `for:` shortened to `for_duration`: the expressions are the
    shipped ones, only the waits fit a test of a minute."""
    text = re.sub(r"^(\s*for: )\d+[smh]$", rf"\g<1>{for_duration}", SHIPPED_RULES.read_text(), flags=re.MULTILINE)
    path = folder / "vrmonitor.rules.yml"
    path.write_text(text)
    return path


def dashboard_expressions(instance: str, rate_interval: str = "30s") -> list[tuple[str, str]]:
    """(panel title, expression) of every query of the shipped dashboard, with Grafana's
    variables as a person viewing router `instance` would have them."""
    found = []
    for panel in json.loads(DASHBOARD.read_text())["panels"]:
        for target in panel.get("targets", []):
            expr = (target["expr"].replace("$instance", instance)
                    .replace("$__rate_interval", rate_interval))
            found.append((panel["title"], expr))
    return found


@contextmanager
def running(*servers):
    """Stop each of `servers` (started already) afterwards, whatever happened."""
    try:
        yield servers
    finally:
        for server in reversed(servers):
            server.stop()

