"""The CloudStack contract: its input files, output formats and compat entry points."""
