"""/etc/vrmonitor/vrmonitor.toml through load_settings, the reader of the daemon and every command.

Documents are drawn from the schema's own keys with valid or wrong values (TOML's nan and inf
included), written as TOML, then damaged. Every input gives Settings whose numbers are finite,
or a ConfigError whose every line names the file; never another exception.
"""

import json
import math
from dataclasses import fields, is_dataclass

import pytest
from hypothesis import example, given, strategies as st

from tests.fuzz.hang_guard import no_hang
from tests.fuzz.mutations import TEXT_CHARACTERS, mutated
from vrmonitor.config.schema import load_schema
from vrmonitor.config.settings import Settings, load_settings
from vrmonitor.errors import ConfigError

pytestmark = [pytest.mark.fuzz]

SOURCE = "/etc/vrmonitor/vrmonitor.toml"
SCHEMA = load_schema("vrmonitor")
SCALARS = (st.integers(-10, 10**6) | st.integers() | st.floats() | st.booleans()
           | st.text(TEXT_CHARACTERS, max_size=12)
           | st.sampled_from(("info", "debug", "legacy", "enum", "strict", "off", "auto", "on",
                              "tcp", "dns", "nagios", "cloudstack")))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3), max_leaves=4)
NAMES = st.sampled_from(("dnsmasq", "ssh", "a.sh", "odd name", "é", "")) | st.text(TEXT_CHARACTERS,
                                                                                  max_size=6)


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string: JSON's escapes are TOML's
    return "[" + ", ".join(toml_value(item) for item in value) + "]"


def toml_key(name: str) -> str:
    return json.dumps(name)


@st.composite
def documents(draw):
    """A vrmonitor.toml with the schema's sections and keys, some values wrong, some keys unknown."""
    lines = []
    for section, spec in SCHEMA["properties"].items():
        if not draw(st.booleans()):
            continue
        lines.append(f"[{section}]")
        tables = []
        for key, prop in spec["properties"].items():
            if "additionalProperties" in prop and prop.get("type") == "object":
                tables.append((key, SCHEMA["$defs"][prop["additionalProperties"]["$ref"].split("/")[-1]]))
            elif draw(st.booleans()):
                valid = st.sampled_from(prop["enum"]) if "enum" in prop else st.just(prop.get("default", 1))
                lines.append(f"{key} = {toml_value(draw(valid | VALUES))}")
        if draw(st.integers(0, 5)) == 0:
            lines.append(f"unknown_{draw(st.integers(0, 9))} = 1")
        for key, definition in tables:
            for name in draw(st.lists(NAMES, unique=True, max_size=2)):
                lines.append(f"[{section}.{key}.{toml_key(name)}]")
                for field_name in draw(st.lists(st.sampled_from(list(definition["properties"])),
                                                unique=True)):
                    lines.append(f"{field_name} = {toml_value(draw(VALUES))}")
    return ("\n".join(lines) + "\n").encode()


def numbers(settings):
    """Every number held by Settings, nested tables included."""
    for item in fields(settings):
        value = getattr(settings, item.name)
        if is_dataclass(value):
            yield from numbers(value)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            yield item.name, value
        elif hasattr(value, "values"):
            for nested in value.values():
                yield from numbers(nested)


@given(mutated(documents()))
@example(b"[health]\ntimeout = nan\n")
@example(b"[services]\nverify_interval = inf\n")
@example(b"[diagnostics]\ndeadline = nan\n")
@example(b"a = " + b"[" * 3000 + b"]" * 3000 + b"\n")  # nested too deeply for tomllib
@example(b'[health.checks."x"]\ntimeout = -inf\n')
def test_any_file_gives_finite_settings_or_an_error_naming_it(tmp_path_factory, data):
    path = tmp_path_factory.getbasetemp() / "vrmonitor.toml"
    path.write_bytes(data)
    try:
        with no_hang(10, "load_settings"):
            settings = load_settings(path, SOURCE)
    except ConfigError as exc:
        assert exc.problems and all(line.startswith(f"{SOURCE}: ") for line in exc.problems)
        return
    assert isinstance(settings, Settings)
    for name, number in numbers(settings):
        assert math.isfinite(number), f"{name} = {number!r} was accepted"
