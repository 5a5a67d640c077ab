"""The CloudStack entry points (getRouterAlerts.sh, getRouterMonitorResults.sh, monitorServices.py,
diagnostics.py, get_diagnostics_files.py, cleanup.sh), each `main(argv, root)` behind entry.call(),
and install.py, which writes their scripts under a root. The formats they speak are in cloudstack/."""
