"""``mmpr view --serve``: a small local HTTP server for output folders too large for one HTML file.

Stdlib :mod:`http.server` on 127.0.0.1 only. ``GET /`` is the report page without embedded
chunks (``mode: serve``); the page then asks for what it shows:

- ``GET /chunk/K``: chunk ``K`` as JSON, ``{"rows": [...], "images": {key: data URL}}``
  (:meth:`~mmpr_builder.output.view.report.ReportData.chunk`, read from the shards on demand);
- ``GET /search?q=TEXT``: ``{"matches": [row numbers]}`` (:meth:`~mmpr_builder.output.view.pairs.PairStore.search`;
  the searched columns are read into memory in the background when the server starts).
"""

from __future__ import annotations

import io
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from .report import ReportData, render_page

logger = logging.getLogger(__name__)


def make_server(out_dir: Path, port: int = 8765, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """A server (not yet serving) for ``out_dir``; ``port=0`` picks a free port (see ``server.server_address``).

    Raises:
        OutputError: ``out_dir`` is not an output folder.
        OSError: the port is taken.
    """
    data = ReportData(out_dir)
    page = io.StringIO()
    render_page(data, "serve", page)
    page_bytes = page.getvalue().encode("utf-8")

    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def _json(self, obj, status: int = 200) -> None:
            self._send(status, json.dumps(obj, ensure_ascii=False).encode("utf-8"), "application/json; charset=utf-8")

        def do_GET(self):  # noqa: N802 (http.server's name)
            url = urlsplit(self.path)
            if url.path in ("/", "/index.html"):
                return self._send(200, page_bytes, "text/html; charset=utf-8")
            if url.path.startswith("/chunk/"):
                try:
                    return self._json(data.chunk(int(url.path[len("/chunk/"):])))
                except (ValueError, IndexError) as e:
                    return self._json({"error": str(e)}, 404)
            if url.path == "/search":
                query = parse_qs(url.query).get("q", [""])[0]
                return self._json({"matches": data.store.search(query)})
            return self._json({"error": f"no such path {url.path}"}, 404)

        def log_message(self, fmt, *args):
            logger.info("%s " + fmt, self.address_string(), *args)

    server = ThreadingHTTPServer((host, port), Handler)
    # the first search would read every text column: read them while the user looks at the first page
    threading.Thread(target=data.store.warm_search, name="mmpr-view-search", daemon=True).start()
    return server
