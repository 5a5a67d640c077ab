"""vrmonitor: service monitor, health checks and diagnostics for CloudStack system VMs."""

__version__ = "0.1.0"
