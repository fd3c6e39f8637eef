"""A local OpenAI-compatible chat-completions server for judge tests (127.0.0.1, a free port).

``POST /v1/chat/completions``: the reply depends on a marker, the line after
"Reference answer:" in the prompt (the ground truth): ``gt-correct`` ->
``CORRECT``; ``gt-wrong`` -> ``**Incorrect.**``; ``fail-once`` -> HTTP 500 the
first time, then ``CORRECT``; ``always-500`` -> HTTP 500; ``malformed`` -> a 200
reply with no choices; anything else -> a chatty, unparsable sentence. Every
request is recorded (path, Authorization header, JSON body, marker).
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - http.server API
        fake: FakeJudge = self.server.fake  # type: ignore[attr-defined]
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        prompt = body["messages"][0]["content"]
        marker = prompt.split("Reference answer:\n", 1)[1].split("\n", 1)[0]
        with fake.lock:
            fake.seen.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body,
                              "marker": marker})
            first = marker not in fake.failed_once
            fake.failed_once.add(marker)
        if marker == "always-500" or marker == "fail-once" and first:
            return self._send(500, b'{"error": {"message": "overloaded"}}')
        if marker == "malformed":
            return self._send(200, b'{"object": "chat.completion", "choices": []}')
        reply = {"gt-correct": "CORRECT", "gt-wrong": "**Incorrect.**", "fail-once": "CORRECT"}.get(
            marker, "I think the solution is probably right")
        out = {"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
               "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": reply}}]}
        self._send(200, json.dumps(out).encode())

    def _send(self, code: int, payload: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):  # keep test output clean
        pass


class FakeJudge:
    """Context manager: ``with FakeJudge() as fake: fake.base_url`` ... ``fake.seen``."""

    def __init__(self):
        self.seen: list[dict] = []
        self.failed_once: set[str] = set()
        self.lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.fake = self  # type: ignore[attr-defined]
        self.base_url = "http://127.0.0.1:%d/v1" % self._httpd.server_address[1]

    def __enter__(self) -> "FakeJudge":
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
