"""JSON Schema validation with one readable line per problem.

This is the only module that imports jsonschema. Schemas live beside it as package data
(`schemas/<name>.schema.json`) and use draft 2020-12, which both jsonschema 4.10 (Debian 12)
and the newest PyPI release implement. Messages that differ between those releases
(minItems, minLength) or that would repeat a whole document (type) are written here instead.
"""

import json
import logging
import re
import reprlib
from dataclasses import dataclass
from importlib import resources

import jsonschema

LOG = logging.getLogger(__name__)

TOP_LEVEL = "(top level)"

# Keys written bare in a dotted path; any other key is quoted, as TOML would (`checks."a.sh"`).
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")

# Enough of a value to recognise it; a wrong-typed table is not printed in full.
_SHORT = reprlib.Repr()
_SHORT.maxstring = 60
_SHORT.maxother = 60
_SHORT.maxlist = _SHORT.maxdict = _SHORT.maxtuple = 4
_SHORT.maxlevel = 2


@dataclass(frozen=True)
class Problem:
    """One schema violation: the path of the offending value and what is wrong with it."""

    path: tuple[str | int, ...]
    message: str

    @property
    def dotted(self) -> str:
        """`health.timeout`, `checks.2.timeout`, or `(top level)` for the document itself."""
        return ".".join(_dotted_part(part) for part in self.path) or TOP_LEVEL

    def line(self, source: str) -> str:
        return f"{source}: {self.dotted}: {self.message}"

    def sort_key(self):
        # Paths mix object keys and array indexes; indexes sort numerically, before names.
        return (tuple((0, part, "") if isinstance(part, int) else (1, 0, part) for part in self.path),
                self.message)


def load_schema(schema_name: str) -> dict:
    """The schema shipped as `vrmonitor/config/schemas/<schema_name>.schema.json`."""
    resource = resources.files(__package__).joinpath("schemas", f"{schema_name}.schema.json")
    return json.loads(resource.read_text(encoding="utf-8"))


def validate(document, schema_name: str) -> list[Problem]:
    """Every problem of `document` against the named schema, sorted by path."""
    validator = jsonschema.Draft202012Validator(load_schema(schema_name))
    found = set()  # a `required` error is raised once per missing key; each explains them all
    for error in validator.iter_errors(document):
        found.update(_explain(error))
    LOG.debug("%s schema: %d problem(s)", schema_name, len(found))
    return sorted(found, key=Problem.sort_key)


def problems(document, schema_name: str, source: str) -> list[str]:
    """Every problem as one line `<source>: <dotted.path>: <message>`, sorted by path."""
    return [problem.line(source) for problem in validate(document, schema_name)]


def _explain(error) -> list[Problem]:
    path = tuple(error.absolute_path)
    kind = error.validator
    if kind == "additionalProperties" and isinstance(error.instance, dict):
        # jsonschema lists all unexpected keys in one message; name each with its full path.
        return [Problem(path + (key,), "unknown key") for key in _unexpected(error)]
    if kind == "required":
        return [Problem(path + (name,), "missing")
                for name in error.validator_value if name not in error.instance]
    if kind in ("minItems", "minLength") and error.validator_value == 1:
        return [Problem(path, "must not be empty")]
    if kind == "minItems":
        return [Problem(path, f"needs at least {error.validator_value} items")]
    if kind == "minLength":
        return [Problem(path, f"needs at least {error.validator_value} characters")]
    if kind == "type":
        expected = error.validator_value
        expected = [expected] if isinstance(expected, str) else expected
        names = ", ".join(repr(name) for name in expected)
        return [Problem(path, f"{_SHORT.repr(error.instance)} is not of type {names}")]
    return [Problem(path, error.message)]


def _unexpected(error) -> list[str]:
    known = error.schema.get("properties", {})
    patterns = error.schema.get("patternProperties", {})
    return [key for key in error.instance
            if key not in known and not any(re.search(pattern, key) for pattern in patterns)]


def _dotted_part(part) -> str:
    if isinstance(part, int) or _BARE_KEY.fullmatch(part):
        return str(part)
    return json.dumps(part, ensure_ascii=False)
