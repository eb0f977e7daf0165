#!/usr/bin/env python3
"""The independent TUF client of the repository tests: python-tuf's ngclient.

    client.py REPO_DIR TRUSTED_ROOT WORK_DIR TARGET_NAME...

Serves REPO_DIR on 127.0.0.1 (a port the kernel picks) for the length of the run only,
refreshes the metadata from TRUSTED_ROOT on, downloads every named target (ngclient
checks its length and hashes against the signed metadata) into WORK_DIR/targets, and
prints one JSON object: {"ok": true, "targets": {name: {"path", "length", "sha256",
"custom"}}} or {"ok": false, "error": "<exception class>: <message>"}. Exits 0 either
way: the test reads the verdict.
"""
import functools
import http.server
import inspect
import json
import os
import shutil
import socketserver
import sys
import threading

from tuf.ngclient import Updater


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def main():
    repo, root, work = sys.argv[1:4]
    names = sys.argv[4:]
    handler = functools.partial(Quiet, directory=repo)
    socketserver.TCPServer.allow_reuse_address = True
    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler) as server:
        server.daemon_threads = True
        port = server.server_address[1]
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            result = fetch(f"http://127.0.0.1:{port}", root, work, names)
        finally:
            server.shutdown()
    print(json.dumps(result, indent=1, sort_keys=True))


def fetch(base, root, work, names):
    md = os.path.join(work, "metadata")
    td = os.path.join(work, "targets")
    os.makedirs(md, exist_ok=True)
    os.makedirs(td, exist_ok=True)
    with open(root, "rb") as f:
        trusted = f.read()
    kwargs = dict(
        metadata_dir=md,
        metadata_base_url=f"{base}/metadata/",
        target_dir=td,
        target_base_url=f"{base}/targets/",
    )
    if "bootstrap" in inspect.signature(Updater.__init__).parameters:
        # python-tuf 6 and later: the trusted root is given, not read from metadata_dir.
        kwargs["bootstrap"] = trusted
    elif not os.path.exists(os.path.join(md, "root.json")):
        shutil.copy(root, os.path.join(md, "root.json"))
    try:
        updater = Updater(**kwargs)
        updater.refresh()
        out = {}
        for name in names:
            info = updater.get_targetinfo(name)
            if info is None:
                return {"ok": False, "error": f"NoTarget: {name}"}
            path = updater.download_target(info)
            out[name] = {
                "path": path,
                "length": info.length,
                "sha256": info.hashes.get("sha256"),
                "custom": info.custom,
            }
        return {"ok": True, "targets": out}
    except Exception as e:  # the verdict is the test's to read
        return {"ok": False, "error": f"{type(e).__name__}: {e}"}


if __name__ == "__main__":
    main()
