#!/usr/bin/env python3
"""An upstream API under test control, for HTTP tool bindings.

Binds 127.0.0.1 on an ephemeral port and prints "PORT <port>". Paths are
/<scenario>/<anything>; each (scenario, path) counts its attempts:
  ok          200 with what was received (method, path, query, body, headers)
  flaky       500, 500, then 200
  ratelimited 429 with Retry-After: 1, then 200
  slow        waits 2 s, then 200
  malformed   200 with a body that is not JSON
  drop        closes the connection without answering
  notfound    404
  down        500 always
  orders      an order lookup: 200 with a shipped order whose id is the last path segment,
              or 503 while the upstream is switched down
GET /_log lists every request: path, method and Idempotency-Key. POST /_down and POST /_up
switch the `orders` scenario off and on (an upstream outage mid-traffic).
Exits when stdin reaches EOF or after 120 s.
"""
import json
import os
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

lock = threading.Lock()
attempts = {}
log = []
switched_down = False


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):
        pass

    def send(self, status, body=b"", headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def handle_any(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length) if length else b""
        url = urlparse(self.path)
        if url.path == "/_log":
            with lock:
                self.send(200, json.dumps(log).encode(), [("Content-Type", "application/json")])
            return
        if url.path in ("/_down", "/_up"):
            global switched_down
            with lock:
                switched_down = url.path == "/_down"
            self.send(204)
            return
        scenario = url.path.strip("/").split("/")[0]
        with lock:
            attempts[url.path] = attempts.get(url.path, 0) + 1
            n = attempts[url.path]
            log.append({"path": url.path, "method": self.command, "idempotency_key": self.headers.get("Idempotency-Key")})
        echo = json.dumps({
            "method": self.command, "path": self.path, "attempt": n,
            "body": body.decode("utf-8", "replace"),
            "authorization": self.headers.get("Authorization"),
            "content_type": self.headers.get("Content-Type"),
        }).encode()
        if scenario == "ok":
            self.send(200, echo, [("Content-Type", "application/json")])
        elif scenario == "flaky":
            self.send(500 if n < 3 else 200, b"{}" if n < 3 else echo)
        elif scenario == "ratelimited":
            if n == 1:
                self.send(429, b"{}", [("Retry-After", "1")])
            else:
                self.send(200, echo)
        elif scenario == "slow":
            time.sleep(2)
            self.send(200, echo)
        elif scenario == "malformed":
            self.send(200, b"{not json")
        elif scenario == "drop":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
        elif scenario == "orders":
            with lock:
                down = switched_down
            if down:
                self.send(503, b'{"error":"maintenance"}', [("Content-Type", "application/json")])
            else:
                order = url.path.rstrip("/").split("/")[-1]
                self.send(200, json.dumps({
                    "order_id": order, "found": True, "status": "shipped", "carrier": "UPS",
                    "tracking_number": "1Z999AA10123456784", "estimated_delivery": "2026-12-10",
                }).encode(), [("Content-Type", "application/json")])
        elif scenario == "notfound":
            self.send(404, b'{"error":"no such order"}')
        else:
            self.send(500, b"{}")

    do_GET = handle_any
    do_POST = handle_any
    do_PUT = handle_any
    do_DELETE = handle_any


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"PORT {server.server_address[1]}", flush=True)
    deadline = threading.Timer(120, lambda: os._exit(0))
    deadline.daemon = True
    deadline.start()
    sys.stdin.read()
    os._exit(0)


if __name__ == "__main__":
    main()
