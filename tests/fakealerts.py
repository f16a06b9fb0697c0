"""Fake Discord and Telegram servers on 127.0.0.1: every request recorded; answers scripted
(a queue of (status, body, headers) per service, then the service's success)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOKEN = "123456:SECRET-bot-token"
CHAT = "4242"


class FakeAlerts:
    def __init__(self):
        self.received: list[tuple[str, dict]] = []          # (service, body)
        self.script: dict[str, list] = {"discord": [], "telegram": []}
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                service = "discord" if self.path.startswith("/api/webhooks/") else \
                    "telegram" if self.path == f"/bot{TOKEN}/sendMessage" else None
                if service is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                with fake.lock:
                    step = fake.script[service].pop(0) if fake.script[service] else None
                    if step is None:
                        fake.received.append((service, body))
                if step is None:
                    step = (204, None, {}) if service == "discord" else \
                        (200, {"ok": True, "result": {"message_id": 1}}, {})
                status, payload, headers = step
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                data = json.dumps(payload).encode() if payload is not None else b""
                if data:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def discord_url(self) -> str:
        return f"{self.url}/api/webhooks/1/SECRET-webhook-token"

    def env(self) -> dict:
        return {"DISCORD_WEBHOOK_URL": self.discord_url, "TELEGRAM_BOT_TOKEN": TOKEN,
                "TELEGRAM_CHAT_ID": CHAT}

    def texts(self, service: str) -> list[str]:
        key = "content" if service == "discord" else "text"
        with self.lock:
            return [b[key] for s, b in self.received if s == service]

    def then(self, service: str, *steps) -> None:
        with self.lock:
            self.script[service].extend(steps)

    def close(self) -> None:
        self.server.shutdown()
