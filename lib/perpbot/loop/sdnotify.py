"""systemd's notify protocol (sd_notify): a datagram to $NOTIFY_SOCKET, nothing when it is not
set. READY=1 once the loop serves its socket, WATCHDOG=1 from the loop's watch every second
(contrib/perpbot.service sets WatchdogSec), STOPPING=1 on the way out."""

from __future__ import annotations

import os
import socket


def notify(state: str) -> bool:
    path = os.environ.get("NOTIFY_SOCKET")
    if not path:
        return False
    if path.startswith("@"):                # an abstract socket
        path = "\0" + path[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            s.connect(path)
            s.sendall(state.encode())
        return True
    except OSError:
        return False
