"""The daemon: composition.py builds the jobs once and runs the loop of periodic.py."""
