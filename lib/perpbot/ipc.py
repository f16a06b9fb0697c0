"""The trade loop's control socket: one JSON request and one JSON reply per connection, over a
Unix socket (mode 0600) beside the database. The daemon serves it; status is a client."""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import orjson

from .errors import PerpbotError

MAX_REQUEST = 1 << 16


def socket_path(db_path: Path) -> Path:
    return Path(db_path).parent / "perp-bot.sock"


class ControlServer:
    """Answers requests with `handler(request) -> reply` in a background thread."""

    def __init__(self, path: Path, handler, log=None):
        self.path = Path(path)
        self.handler = handler
        self.log = log
        self.stop = threading.Event()
        if self.path.exists() or self.path.is_symlink():
            self.path.unlink()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)           # the socket is born 0600: no window with wider access
        try:
            self.sock.bind(str(self.path))
        finally:
            os.umask(old)
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.thread = threading.Thread(target=self._serve, name="control", daemon=True)

    def start(self) -> "ControlServer":
        self.thread.start()
        return self

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                try:
                    reply = self._answer(_read_request(conn))
                except (OSError, ValueError) as e:
                    reply = {"ok": False, "error": f"bad request: {e}"}
                try:
                    conn.sendall(orjson.dumps(reply, default=str) + b"\n")
                except OSError:
                    pass

    def _answer(self, request):
        if not isinstance(request, dict) or not isinstance(request.get("cmd"), str):
            return {"ok": False, "error": 'expected {"cmd": ...}'}
        try:
            return {"ok": True, **self.handler(request)}
        except PerpbotError as e:
            return {"ok": False, "error": e.msg}
        except Exception as e:          # noqa: BLE001 - the daemon must not die of a request
            if self.log:
                self.log.error("control request failed", cmd=request.get("cmd"), error=repr(e))
            return {"ok": False, "error": f"{type(e).__name__}: {e}"}

    def close(self) -> None:
        self.stop.set()
        self.sock.close()
        self.thread.join(timeout=2)
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass


def _read_request(conn) -> dict:
    data = b""
    while not data.endswith(b"\n") and len(data) < MAX_REQUEST:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return orjson.loads(data)


class NoDaemon(PerpbotError):
    pass


def request(path: Path, req: dict, timeout_s: float = 5.0) -> dict:
    """Send one request to the daemon; NoDaemon when nothing listens there."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout_s)
    try:
        s.connect(str(path))
    except (FileNotFoundError, ConnectionRefusedError):
        raise NoDaemon(f"no trade loop running (no daemon on {path})") from None
    with s:
        s.sendall(orjson.dumps(req) + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    return orjson.loads(data)
