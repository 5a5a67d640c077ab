"""What the ping, arping and traceroute clones share: the C behaviour they imitate.

- ToolExit: the one way a tool stops early; it carries the text to print, the stream it goes
  to and the exit status, so every caller reports it the same way.
- getopt(): glibc getopt() with GNU permutation (options before or after the operands).
- C number parsing: strtol/strtoul (base 0 or 10) and strtod, with the characters they
  consume and ERANGE, and iputils' strtol_or_err().
- scapy(): a scapy module imported on first use, its import-time log noise kept off stderr.

Standard library only, and light: validate.py imports it before any tool runs.
"""

import importlib
import logging
import re
import sys
from typing import Callable, Iterator

from vrmonitor.errors import DiagnosticError

STDOUT, STDERR = "stdout", "stderr"
INT_MAX = 2**31 - 1
LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1
C_SPACE = " \t\n\v\f\r"  # isspace() in the C locale


class ToolExit(DiagnosticError):
    """A tool stops: `text` is what it prints (newline-ended; empty: nothing), on `stream`
    (STDOUT or STDERR), and `status` is its exit status. str() is the text without its
    final newline, as one line of a report."""

    def __init__(self, text: str, status: int = 2, stream: str = STDERR):
        super().__init__(text.rstrip("\n"))
        self.text = text if not text or text.endswith("\n") else text + "\n"
        self.status = status
        self.stream = stream

    def report(self, stdout, stderr) -> int:
        """Print the text where the tool prints it; the exit status. stdout is flushed first,
        so what the tool printed there before stays ahead of the message."""
        stdout.flush()
        write(stdout if self.stream == STDOUT else stderr, self.text)
        return self.status


def write(stream, text: str) -> None:
    """Write and flush at once: a tool's lines are read live (and a killed run keeps them)."""
    if text:
        stream.write(text)
        stream.flush()


# -- the command line ------------------------------------------------------------------------

def getopt(argv: list[str], optstring: str,
           refuse: Callable[[str], Exception]) -> Iterator[tuple[str | None, str | None]]:
    """glibc getopt() over `argv` (without the program name), with GNU permutation.

    Yields, in command-line order, (letter, value) for each option (value None for a flag;
    `-c5` and `-c 5` alike; `-nq` is two flags) and (None, operand) for each operand; `-`
    is an operand and `--` makes all that follows operands. An unknown letter or a missing
    value raises refuse(message) with glibc's message. The caller applies each option as it
    comes, so the first bad one is the one reported, as with the C tools.
    """
    index = 0
    while index < len(argv):
        arg = argv[index]
        index += 1
        if arg == "--":
            for operand in argv[index:]:
                yield None, operand
            return
        if not arg.startswith("-") or arg == "-":
            yield None, arg
            continue
        position = 1
        while position < len(arg):
            letter = arg[position]
            position += 1
            spec = optstring.find(letter)
            if letter in ":-" or spec < 0:
                raise refuse(f"invalid option -- '{letter}'")
            if optstring[spec + 1:spec + 2] != ":":
                yield letter, None
                continue
            if position < len(arg):
                value = arg[position:]
            elif index < len(argv):
                value = argv[index]
                index += 1
            else:
                raise refuse(f"option requires an argument -- '{letter}'")
            yield letter, value
            break


# -- C numbers -------------------------------------------------------------------------------

class InvalidNumber(ValueError):
    """A number strtol_or_err() refuses; str() is iputils' text after `<prog>: `."""


def _strtol_digits(text: str, base: int) -> tuple[int, int]:
    """(exact value, characters consumed) of the integer strtol(text, &end, base) reads, base
    0 (prefix decides: 0x hex, 0 octal) or 10, before C clamps it; consumed 0 when none."""
    position = 0
    while position < len(text) and text[position] in C_SPACE:
        position += 1
    negative = False
    if position < len(text) and text[position] in "+-":
        negative = text[position] == "-"
        position += 1
    digits = "0123456789"
    if base == 0:
        base = 10
        if text[position:position + 2] in ("0x", "0X") and position + 2 < len(text) \
                and text[position + 2] in "0123456789abcdefABCDEF":
            base, digits = 16, "0123456789abcdefABCDEF"
            position += 2
        elif text[position:position + 1] == "0":
            base, digits = 8, "01234567"
    start = position
    while position < len(text) and text[position] in digits:
        position += 1
    if position == start:
        return 0, 0
    value = int(text[start:position], base)
    return (-value if negative else value), position


def c_strtoul(text: str, signed: bool = False) -> tuple[int, int]:
    """strtoul(text, &end, 0) (or strtol with signed=True): (value, characters consumed);
    consumed is 0 when no number starts the text. The value is what C would return (negative
    numbers wrap for strtoul; overflow saturates)."""
    value, used = _strtol_digits(text, 0)
    if signed:
        return max(LONG_MIN, min(LONG_MAX, value)), used
    magnitude = min(abs(value), 2**64 - 1)
    return (-magnitude % 2**64 if value < 0 else magnitude), used


def strtol_or_err(text: str, low: int, high: int) -> int:
    """iputils' strtol_or_err(): a whole base-10 long (leading blanks and a sign allowed,
    nothing after) within [low, high]; InvalidNumber with iputils' text otherwise."""
    value, used = _strtol_digits(text, 10)
    if not used or used != len(text):
        raise InvalidNumber(f"invalid argument: '{text}'")
    if not LONG_MIN <= value <= LONG_MAX:
        raise InvalidNumber(f"invalid argument: '{text}': Numerical result out of range")
    if value < low or value > high:
        raise InvalidNumber(f"invalid argument: '{text}': out of range: {low} <= value <= {high}")
    return value


_FLOAT = re.compile(r"[ \t\n\v\f\r]*([+-]?)(?:"
                    r"(0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP][+-]?[0-9]+)?)"
                    r"|((?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)"
                    r"|(inf(?:inity)?|nan(?:\([0-9A-Za-z_]*\))?))", re.IGNORECASE)


def c_strtod_erange(text: str) -> tuple[float, int, bool]:
    """(value, characters consumed, ERANGE) as glibc strtod reads the start of `text`;
    consumed 0 when no number starts it. Overflow gives +-inf, underflow a tiny or zero value,
    both with ERANGE."""
    match = _FLOAT.match(text)
    if not match:
        return 0.0, 0, False
    sign = -1.0 if match.group(1) == "-" else 1.0
    hexadecimal, decimal, special = match.group(2), match.group(3), match.group(4)
    if special:
        return sign * float("nan" if special.lower().startswith("nan") else "inf"), match.end(), False
    if hexadecimal:
        literal = hexadecimal if re.search("[pP]", hexadecimal) else hexadecimal + "p0"
        try:
            value = float.fromhex(literal)
        except OverflowError:
            return sign * float("inf"), match.end(), True
        mantissa = re.sub("[pP].*", "", hexadecimal)[2:]
    else:
        value = float(decimal)
        mantissa = re.sub("[eE].*", "", decimal)
    nonzero = any(c not in "0." for c in mantissa)
    out_of_range = value == float("inf") or (nonzero and abs(value) < sys.float_info.min)
    return sign * value, match.end(), out_of_range


def c_strtod(text: str) -> tuple[float, int]:
    """strtod(text, &end): (value, characters consumed); consumed 0 when there is no number."""
    value, used, _ = c_strtod_erange(text)
    return value, used


# -- scapy -----------------------------------------------------------------------------------

def scapy(module: str, quiet_below: int = logging.ERROR):
    """The scapy module `module` (its layer modules only, never scapy.all), imported on first
    use. scapy logs at import time about interfaces without an address and the like, noise
    here since the kernel routes our packets: the `scapy` logger is set to `quiet_below`
    unless the caller configured it already."""
    scapy_log = logging.getLogger("scapy")
    if scapy_log.level == logging.NOTSET:
        scapy_log.setLevel(quiet_below)
    return importlib.import_module(module)
