"""Logging configured when it is first imported, not before.

An entry point's normal path logs nothing, and importing the logging package costs about as
much as the interpreter's own start. So an entry point does not import it to configure it: it
asks for its configuration to run right after the first import of logging (by any module),
before that import returns, so that no record can be emitted unconfigured (logging's last
resort would print it on stderr).
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing's own flag would cost typing's import; mypy reads this one
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import ModuleType

    Configure = Callable[[ModuleType], None]


def configure_when_imported(configure: Configure) -> None:
    """Call configure(logging) once logging is imported; at once when it already is."""
    if "logging" in sys.modules:
        configure(sys.modules["logging"])
        return
    sys.meta_path.insert(0, _Finder(configure))


class _Finder:
    """A meta path finder for `logging` alone: the standard finder's spec, its loader wrapped."""

    def __init__(self, configure: Configure):
        self._configure = configure

    def find_spec(self, name, path=None, target=None):
        if name != "logging":
            return None
        sys.meta_path.remove(self)  # once
        from importlib.machinery import PathFinder

        spec = PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _ThenConfigure(spec.loader, self._configure)  # type: ignore[assignment]
        return spec


class _ThenConfigure:
    """The standard loader, then the configuration."""

    def __init__(self, loader, configure: Configure):
        self._loader = loader
        self._configure = configure

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        self._configure(module)

    def __getattr__(self, name):  # get_source, get_filename, ... as the standard loader's
        return getattr(self._loader, name)
