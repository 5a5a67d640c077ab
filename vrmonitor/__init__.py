"""vrmonitor: service monitor, health checks and diagnostics for CloudStack system VMs."""

__version__ = "0.1.0"

# The environment variable that sets --root (kept here so the CLI needs no pathlib to name it).
ROOT_ENV = "VRMONITOR_ROOT"
