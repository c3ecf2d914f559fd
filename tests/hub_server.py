"""A stand-in for the Hugging Face Hub: a real HTTP server on 127.0.0.1 that answers the calls
`huggingface_hub.snapshot_download` makes for a dataset repository (revision info, the file tree,
HEAD and ranged GET of each file), so downloads are tested offline.

`Hub.cut[path] = n` sends only the first n bytes of that file on its next GET, then drops the
connection (a network failing mid-file); `Hub.broken` holds paths answered "not found";
`requests` logs every request with its Range header.
"""

from __future__ import annotations

import hashlib
import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Hub(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, repos: dict[str, dict]):
        """`repos`: {"owner/name": make_repo(...)}."""
        super().__init__(("127.0.0.1", 0), _Handler)
        self.repos = repos
        self.cut: dict[str, int] = {}
        self.broken: set[str] = set()
        self.requests: list[tuple[str, str, str | None]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def start(self) -> "Hub":
        threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


def make_repo(files: dict[str, bytes], revisions: dict[str, dict[str, bytes]] | None = None) -> dict:
    """{revision name: (commit, files)} with `files` on "main" and more revisions beside it."""
    out = {}
    for name, content in {"main": files, **(revisions or {})}.items():
        commit = hashlib.sha1(name.encode() + json.dumps(sorted(content)).encode()).hexdigest()
        out[name] = (commit, content)
    return out


class _Handler(BaseHTTPRequestHandler):
    server: Hub

    def log_message(self, *args):  # quiet
        pass

    def _route(self):
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        self.server.requests.append((self.command, path, self.headers.get("Range")))
        return path.strip("/").split("/")

    def _repo(self, owner: str, name: str):
        return self.server.repos.get(f"{owner}/{name}")

    def do_GET(self):
        parts = self._route()
        if parts[:2] == ["api", "datasets"] and len(parts) >= 6:
            return self._api(parts[2], parts[3], parts[4], parts[5], "/".join(parts[6:]))
        if parts[0] == "datasets" and len(parts) >= 6 and parts[3] == "resolve":
            return self._file(parts[1], parts[2], parts[4], "/".join(parts[5:]), body=True)
        self._json(404, {"error": "not found"})

    def do_HEAD(self):
        parts = self._route()
        if parts[0] == "datasets" and len(parts) >= 6 and parts[3] == "resolve":
            return self._file(parts[1], parts[2], parts[4], "/".join(parts[5:]), body=False)
        self._json(404, {"error": "not found"})

    def _lookup(self, owner, name, revision):
        versions = self._repo(owner, name)
        if versions is None:
            self._json(404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"})
            return None
        for label, (commit, files) in versions.items():
            if revision in (label, commit):
                return commit, files
        self._json(404, {"error": "Revision not found"}, {"X-Error-Code": "RevisionNotFound"})
        return None

    def _api(self, owner, name, kind, revision, rest):
        found = self._lookup(owner, name, urllib.parse.unquote(revision))
        if found is None:
            return
        commit, files = found
        if kind == "revision":
            self._json(200, {"id": f"{owner}/{name}", "sha": commit, "private": False,
                             "siblings": [{"rfilename": p} for p in sorted(files)]})
        elif kind == "tree":
            self._json(200, [{"type": "file", "path": p, "size": len(data),
                              "oid": hashlib.sha1(data).hexdigest()} for p, data in sorted(files.items())])
        else:
            self._json(404, {"error": "not found"})

    def _file(self, owner, name, revision, path, *, body: bool):
        found = self._lookup(owner, name, revision)
        if found is None:
            return
        commit, files = found
        if path not in files or path in self.server.broken:
            self._json(404, {"error": "Entry not found"}, {"X-Error-Code": "EntryNotFound"})
            return
        data = files[path]
        start = 0
        ranged = self.headers.get("Range")
        if ranged and ranged.startswith("bytes="):
            start = int(ranged[6:].split("-")[0] or 0)
        chunk = data[start:]
        self.send_response(206 if start else 200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(chunk)))
        self.send_header("ETag", f'"{hashlib.sha1(data).hexdigest()}"')
        self.send_header("X-Repo-Commit", commit)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        if not body:
            return
        cut = self.server.cut.pop(path, None)
        if cut is not None and cut < len(chunk):
            self.wfile.write(chunk[:cut])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)  # the connection drops mid-file
            return
        self.wfile.write(chunk)

    def _json(self, status, value, headers=None):
        data = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, text in (headers or {}).items():
            self.send_header(key, text)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
