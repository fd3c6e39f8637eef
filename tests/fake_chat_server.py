"""An error-injecting OpenAI-compatible chat-completions server for the ``openai`` engine's tests
(127.0.0.1, a free port; stdlib ``http.server`` in a thread). Beside it, test_engine_openai.py runs
the same engine against a real ``vllm serve``.

``POST /v1/chat/completions``: the reply depends on a marker ``[[NAME]]`` in the last user
message's text:

- ``429x2`` / ``500x1``: HTTP 429 twice / HTTP 500 once, then a good reply;
- ``slow``: the first attempt waits ``slow_s`` seconds before answering (the client times out), then good;
- ``down``: HTTP 503 always; ``notjson``: a 200 reply that is not JSON; ``nochoices``: a 200 reply
  with no choices; anything else: a good reply.

A request with ``continue_final_message`` gets HTTP 400, as from a server without vLLM's
continuation fields. A good reply has ``n`` choices: choice ``j`` ends "Answer: \\boxed{42}" for even
``j``, another number for odd ``j``, and ``usage`` of 11 prompt tokens and 7 per choice. Every
request is recorded (Authorization header, JSON body, marker) and the most requests open at once.
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MARKER = re.compile(r"\[\[(\w+)\]\]")


def user_text(body: dict) -> str:
    content = [m for m in body["messages"] if m["role"] == "user"][-1]["content"]
    if isinstance(content, str):
        return content
    return " ".join(p.get("text", "") for p in content if p.get("type") == "text")


def good_reply(body: dict) -> dict:
    n = body.get("n", 1)
    choices = [{"index": j, "finish_reason": "stop", "message": {"role": "assistant", "content": (
        f"Step {j}: we add the numbers carefully and then check the sum twice before we write it down. "
        f"Answer: \\boxed{{{42 if j % 2 == 0 else 100 + j}}}")}} for j in range(n)]
    return {"id": "x", "object": "chat.completion", "created": 0, "model": body["model"], "choices": choices,
            "usage": {"prompt_tokens": 11, "completion_tokens": 7 * n, "total_tokens": 11 + 7 * n}}


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - http.server API
        fake: FakeChatServer = self.server.fake  # type: ignore[attr-defined]
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        m = MARKER.search(user_text(body))
        marker = m.group(1) if m else "ok"
        with fake.lock:
            fake.seen.append({"auth": self.headers.get("Authorization"), "body": body, "marker": marker})
            attempt = fake.attempts[marker] = fake.attempts.get(marker, 0) + 1
            fake.open_now += 1
            fake.most_open = max(fake.most_open, fake.open_now)
        try:
            self._reply(fake, body, marker, attempt)
        finally:
            with fake.lock:
                fake.open_now -= 1

    def _reply(self, fake, body: dict, marker: str, attempt: int) -> None:
        if body.get("continue_final_message"):
            return self._send(400, {"object": "error", "message": "Unrecognized request argument supplied: "
                                    "continue_final_message", "code": 400})
        if marker == "429x2" and attempt <= 2:
            return self._send(429, {"error": {"message": "rate limited"}})
        if marker == "500x1" and attempt <= 1 or marker == "down":
            return self._send(503 if marker == "down" else 500, {"error": {"message": "overloaded"}})
        if marker == "slow" and attempt == 1:
            time.sleep(fake.slow_s)
        if marker == "notjson":
            return self._send(200, b"<html>upstream gateway said hello</html>")
        if marker == "nochoices":
            return self._send(200, {"object": "chat.completion", "choices": []})
        self._send(200, good_reply(body))

    def _send(self, code: int, payload) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        try:
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
            pass

    def log_message(self, *args):  # keep test output clean
        pass


class FakeChatServer:
    """Context manager: ``with FakeChatServer() as fake: fake.base_url`` ... ``fake.seen``."""

    def __init__(self, slow_s: float = 3.0):
        self.seen: list[dict] = []
        self.attempts: dict[str, int] = {}
        self.open_now = self.most_open = 0
        self.slow_s = slow_s
        self.lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.fake = self  # type: ignore[attr-defined]
        self.base_url = "http://127.0.0.1:%d/v1" % self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> FakeChatServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def by_marker(self, marker: str) -> list[dict]:
        return [s for s in self.seen if s["marker"] == marker]
