"""A parsed ping command line: what ping.parse returns and ping_session runs."""

from dataclasses import dataclass

MAXWAIT_MS = 10000  # ping's default linger (-W) after the last probe when nothing answered
DEFAULT_DATALEN = 56


@dataclass(frozen=True)
class PingOptions:
    """A parsed ping command line (what `parse` returns)."""

    prog: str  # "ping" or "ping6": the prefix of every message
    family: int  # socket.AF_UNSPEC (ping), AF_INET (-4) or AF_INET6 (ping6, -6)
    targets: tuple[str, ...]
    count: int = 0  # 0: until interrupted or the deadline
    interval_ms: int = 1000
    linger_ms: int = MAXWAIT_MS
    deadline: int = 0  # seconds, 0: none
    datalen: int = DEFAULT_DATALEN
    ttl: int | None = None
    device: str | None = None
    source: str | None = None  # -I with an address: bind to it
    numeric: bool = False
    quiet: bool = False
    timestamps: bool = False  # -D
    version: bool = False  # -V
    warnings: tuple[str, ...] = ()  # lines ping writes on stderr while reading its options

    @property
    def target(self) -> str:
        return self.targets[-1]
