"""The record strings of health_checks_data.json (contract 3.2), parsed as the reference does.

`"a=1,b=2;c=3;"` is two records: records are separated by `;`, fields by `,`, key and value by
`=`. The quirks are kept on purpose, because the built-in checks were written against them: a
field whose value contains `=` is dropped silently, and records left empty are dropped.
"""

def parse_records(text: str) -> list[dict[str, str]]:
    """The records of one `health_checks_config` value, in order (possibly an empty list)."""
    records = []
    for chunk in text.strip().split(";"):
        if not chunk.strip():
            continue
        record = {}
        for item in chunk.split(","):
            if not item.strip():
                continue
            parts = item.split("=")
            if len(parts) == 2:
                record[parts[0].strip()] = parts[1].strip()
        if record:
            records.append(record)
    return records


def format_port(start, end, delim: str = "-") -> str:
    """`start` alone when both ends are equal, else `start<delim>end` (the reference formatPort)."""
    return str(start) if start == end else f"{start}{delim}{end}"
