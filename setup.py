"""The package list: the rest of the build metadata is in pyproject.toml.

pyproject.toml can either discover packages or list them, not both: discovery finds vrmonitor
and its subpackages (new ones included), and health_scripts/ is added as vrmonitor.health_scripts
(its folder is mapped in pyproject.toml's package-dir).
"""

from setuptools import find_packages, setup

setup(packages=find_packages(include=["vrmonitor", "vrmonitor.*"]) + ["vrmonitor.health_scripts"])
