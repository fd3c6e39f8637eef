"""A local stand-in for the Hub API calls huggingface_hub makes to create a dataset repo and upload to it.

Answers, on 127.0.0.1 only: ``POST /api/repos/create``, ``GET /api/datasets/{repo}/tree/{rev}``,
``GET /api/datasets/{repo}/revision/{rev}``, ``POST /api/datasets/{repo}/preupload/{rev}``,
``POST /api/validate-yaml``, the LFS batch API ``POST /datasets/{repo}.git/info/lfs/objects/batch``
with a basic ``PUT`` upload and ``verify``, and ``POST /api/datasets/{repo}/commit/{rev}``
(ndjson: ``header``, ``file``, ``lfsFile``, ``deletedFile``). Every request is recorded with its
Authorization header. Paths and payloads follow huggingface_hub 2.4 (``_commit_api.py``, ``lfs.py``,
``hf_api.py``). Upload through LFS needs ``huggingface_hub.constants.HF_HUB_DISABLE_XET = True``
(Xet storage is not emulated).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlparse

import yaml


def git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\x00" % len(data) + data).hexdigest()


@dataclass
class Request:
    method: str
    path: str
    authorization: str | None
    body: bytes


@dataclass
class Repo:
    private: bool
    files: dict[str, dict] = field(default_factory=dict)  # path -> {"data", "sha256", "lfs"}
    commits: list[dict] = field(default_factory=list)


class FakeHub:
    """Start with ``FakeHub(token=...)``; ``url`` is the endpoint; ``close()`` stops it.

    Attributes:
        repos: repo id -> :class:`Repo`.
        requests: every request received, in order.
        fail_commits_after: when set, commits after this many answer HTTP 500.
    """

    def __init__(self, token: str | None = None):
        self.token = token
        self.repos: dict[str, Repo] = {}
        self.lfs: dict[str, bytes] = {}
        self.requests: list[Request] = []
        self.fail_commits_after: int | None = None
        self.lock = threading.Lock()
        hub = self

        class Handler(_Handler):
            fake = hub

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def commit_messages(self, repo_id: str) -> list[str]:
        return [c["summary"] for c in self.repos[repo_id].commits]

    def lfs_uploads(self) -> list[str]:
        """Paths of the PUTs that carried file bytes (one per uploaded LFS object)."""
        return [r.path for r in self.requests if r.method == "PUT"]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake: FakeHub

    def log_message(self, *args):  # keep test output quiet
        pass

    # ------------------------------------------------------------------ plumbing
    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _send(self, status: int, obj=None, headers: dict | None = None) -> None:
        data = b"" if obj is None else json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _handle(self, method: str) -> None:
        body = self._body()
        path = urlparse(self.path).path
        fake = self.fake
        with fake.lock:
            fake.requests.append(Request(method, path, self.headers.get("Authorization"), body))
        if fake.token is not None and self.headers.get("Authorization") != f"Bearer {fake.token}" \
                and not path.startswith("/lfs-upload/"):
            return self._send(401, {"error": "Invalid credentials"})
        for pattern, name in ROUTES:
            m = re.fullmatch(pattern, path)
            if m and name.startswith(method.lower() + "_"):
                with fake.lock:
                    try:
                        return getattr(self, name)(body, *[g if g is None else unquote(g) for g in m.groups()])
                    except Exception as e:  # noqa: BLE001 - a fake-server bug: answer 400 (no client retries)
                        return self._send(400, {"error": f"fake hub failed: {e!r}"})
        self._send(404, {"error": f"no route {method} {path}"})

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def do_PUT(self):
        self._handle("PUT")

    def _repo(self, repo_id: str) -> Repo | None:
        repo = self.fake.repos.get(repo_id)
        if repo is None:
            self._send(404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"})
        return repo

    # ------------------------------------------------------------------ routes
    def post_create(self, body):
        req = json.loads(body)
        repo_id = f"{req['organization']}/{req['name']}" if req.get("organization") else req["name"]
        url = f"{self.fake.url}/datasets/{repo_id}"
        if repo_id in self.fake.repos:
            return self._send(409, {"error": "You already created this dataset repo", "url": url})
        self.fake.repos[repo_id] = Repo(private=req.get("visibility") == "private" or bool(req.get("private")))
        self._send(200, {"url": url, "name": repo_id})

    def get_tree(self, body, repo_id, rev, sub=None):
        repo = self._repo(repo_id)
        if repo is None:
            return
        entries = []
        for p, f in sorted(repo.files.items()):
            if sub and not p.startswith(sub.strip("/") + "/"):
                continue
            entry = {"type": "file", "path": p, "size": len(f["data"]), "oid": git_blob_id(f["data"])}
            if f["lfs"]:
                entry["lfs"] = {"oid": f["sha256"], "size": len(f["data"]), "pointerSize": 134}
            entries.append(entry)
        self._send(200, entries)

    def get_revision(self, body, repo_id, rev):
        repo = self._repo(repo_id)
        if repo is not None:
            self._send(200, {"id": repo_id, "sha": f"{len(repo.commits):040x}", "private": repo.private})

    def post_preupload(self, body, repo_id, rev):
        repo = self._repo(repo_id)
        if repo is None:
            return
        files = []
        for f in json.loads(body)["files"]:
            lfs = f["path"].endswith(".parquet")
            have = repo.files.get(f["path"])
            oid = None if have is None else (have["sha256"] if have["lfs"] else git_blob_id(have["data"]))
            files.append({"path": f["path"], "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False,
                          "oid": oid})
        self._send(200, {"files": files})

    def post_validate_yaml(self, body):
        content = json.loads(body)["content"]
        m = re.match(r"^---\n(.*?)\n---\n", content, re.S)
        try:
            meta = yaml.safe_load(m.group(1)) if m else {}
            assert isinstance(meta, dict)
        except Exception as e:  # noqa: BLE001 - any YAML problem is a 400, as on the Hub
            return self._send(400, {"errors": [{"message": str(e)}], "warnings": []})
        self._send(200, {"errors": [], "warnings": []})

    def post_lfs_batch(self, body, repo_id):
        if self._repo(repo_id) is None:
            return
        objects = []
        for o in json.loads(body)["objects"]:
            obj = {"oid": o["oid"], "size": o["size"]}
            if o["oid"] not in self.fake.lfs:
                obj["actions"] = {"upload": {"href": f"{self.fake.url}/lfs-upload/{o['oid']}"},
                                  "verify": {"href": f"{self.fake.url}/lfs-verify"}}
            objects.append(obj)
        self._send(200, {"transfer": "basic", "objects": objects})

    def put_lfs_upload(self, body, oid):
        if hashlib.sha256(body).hexdigest() != oid:
            return self._send(400, {"error": "sha256 mismatch"})
        self.fake.lfs[oid] = body
        self._send(200)

    def post_lfs_verify(self, body):
        oid = json.loads(body)["oid"]
        self._send(200 if oid in self.fake.lfs else 404, {})

    def post_commit(self, body, repo_id, rev):
        repo = self._repo(repo_id)
        if repo is None:
            return
        if self.fake.fail_commits_after is not None and len(repo.commits) >= self.fake.fail_commits_after:
            return self._send(500, {"error": "simulated Hub failure"})
        lines = [json.loads(x) for x in body.splitlines() if x.strip()]
        header = next(x["value"] for x in lines if x["key"] == "header")
        for x in lines:
            v = x["value"]
            if x["key"] == "file":
                data = base64.b64decode(v["content"])
                repo.files[v["path"]] = {"data": data, "sha256": hashlib.sha256(data).hexdigest(), "lfs": False}
            elif x["key"] == "lfsFile":
                if v["oid"] not in self.fake.lfs:
                    return self._send(400, {"error": f"LFS object {v['oid']} was not uploaded"})
                repo.files[v["path"]] = {"data": self.fake.lfs[v["oid"]], "sha256": v["oid"], "lfs": True}
            elif x["key"] == "deletedFile":
                repo.files.pop(v["path"], None)
        repo.commits.append(header)
        oid = f"{len(repo.commits):040x}"
        self._send(200, {"commitUrl": f"{self.fake.url}/datasets/{repo_id}/commit/{oid}", "commitOid": oid,
                         "pullRequestUrl": None})


_REPO = r"([^/]+/[^/]+)"
ROUTES = [
    (r"/api/repos/create", "post_create"),
    (rf"/api/datasets/{_REPO}/tree/([^/]+)(/.*)?", "get_tree"),
    (rf"/api/datasets/{_REPO}/revision/([^/]+)", "get_revision"),
    (rf"/api/datasets/{_REPO}/preupload/([^/]+)", "post_preupload"),
    (r"/api/validate-yaml", "post_validate_yaml"),
    (rf"/datasets/{_REPO}\.git/info/lfs/objects/batch", "post_lfs_batch"),
    (r"/lfs-upload/([0-9a-f]{64})", "put_lfs_upload"),
    (r"/lfs-verify", "post_lfs_verify"),
    (rf"/api/datasets/{_REPO}/commit/([^/]+)", "post_commit"),
]
