"""Build script: the vrmonitor package, its schemas, and the console script."""

import re
from pathlib import Path

from setuptools import find_packages, setup

VERSION = re.search(r'__version__ = "([^"]+)"',
                    Path(__file__).with_name("vrmonitor").joinpath("__init__.py").read_text()).group(1)

setup(
    name="vrmonitor",
    version=VERSION,
    description="Service monitor, health checks and diagnostics for CloudStack system VMs",
    license="Apache-2.0",
    python_requires=">=3.11",
    # health_scripts/ is shipped inside the package, where `vrmonitor compat install` finds it.
    packages=find_packages(include=["vrmonitor", "vrmonitor.*"]) + ["vrmonitor.health_scripts"],
    package_dir={"vrmonitor.health_scripts": "health_scripts"},
    package_data={"vrmonitor.config": ["schemas/*.json"],
                  "vrmonitor.health_scripts": ["*.py", "README.md"]},
    install_requires=[
        "psutil>=5.9.4",
        "netifaces>=0.11.0",
        "scapy>=2.5.0",
        "python-daemon>=2.3.2",
        "jsonschema>=4.10.3",
    ],
    extras_require={"test": ["pytest>=7.2.1"]},
    # A plain script rather than an entry point: setuptools' generated entry-point wrappers
    # look the entry point up through importlib.metadata, which costs more than the whole CLI.
    scripts=["bin/vrmonitor"],
)
