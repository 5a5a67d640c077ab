"""The built-in health checks (contract 3.5, 3.7): one module each, main(argv, root) -> exit code.

The executables in health_scripts/ call them; `vrmonitor compat install` places those in
/root/health_checks/ (and filesystem_writable_check.py in /opt/cloud/bin/). A check acts only
for its own kind (basic or advanced) and prints nothing for the other.
"""
