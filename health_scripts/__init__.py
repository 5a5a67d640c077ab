"""The built-in checks' executables (see README.md); shipped as vrmonitor.health_scripts."""
