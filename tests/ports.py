"""A free port for a server that a test starts and then names to others.

Binding to port 0 and closing again finds a port in the kernel's ephemeral range, and
the kernel may hand that same port to the very next `bind(0)` or outgoing connection:
a fake started after the port was chosen then holds the app's port, and the app fails
with "address already in use" (CI saw this once in 1,200 tests). A port below the
ephemeral range is never handed out by the kernel, so only a server that asks for it
by number can take it; we check that none has before handing it out.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_LOWEST = 10_000  # above the well-known and most registered ports


def _ephemeral_start() -> int:
    try:
        return int(_EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768  # Linux's default


def free_port(host: str = "127.0.0.1") -> int:
    """A port on `host` nobody listens on, outside the kernel's ephemeral range."""
    start = _ephemeral_start()
    below = range(_LOWEST, max(start, _LOWEST + 1))
    for port in random.sample(below, k=min(200, len(below))):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((host, port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port on {host} between {_LOWEST} and {start}")
