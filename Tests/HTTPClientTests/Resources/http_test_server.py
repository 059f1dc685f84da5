#!/usr/bin/env python3
"""Local HTTP server for HTTPClient tests.

Binds 127.0.0.1 on an ephemeral port and prints one line
"PORT <port> CLOSED <port>" (the second is a port that was bound and then
closed, for connection-refused tests). Exits when stdin reaches EOF (the test
closed it or died) or after 120 s at most.
"""
import json
import os
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

MAX_LIFETIME_SECONDS = 120

stats_lock = threading.Lock()
in_flight = 0
max_in_flight = 0
# Once 4 requests are waiting, hold them a little longer before releasing, so
# that a 5th concurrent request (a broken concurrency bound) would be counted.
barrier = threading.Barrier(4, action=lambda: time.sleep(0.2), timeout=20)
arrived = {}  # request id -> threading.Event
arrived_lock = threading.Lock()


def arrival_event(key):
    with arrived_lock:
        return arrived.setdefault(key, threading.Event())


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so connection reuse is exercised

    def log_message(self, format, *args):
        pass

    def send(self, status, body=b"", headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def read_body(self):
        length = int(self.headers.get("Content-Length", "0"))
        return self.rfile.read(length) if length else b""

    def do_HEAD(self):
        self.do_GET()

    def do_POST(self):
        self.do_GET()

    def do_PUT(self):
        self.do_GET()

    def do_GET(self):
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        try:
            self.route(url.path, query)
        except (BrokenPipeError, ConnectionResetError):
            pass  # client aborted (cancellation / timeout tests)

    def route(self, path, query):
        global in_flight, max_in_flight
        if path == "/hello":
            self.send(200, b"hello world", [
                ("Content-Type", "text/plain"),
                ("X-Test", "abc"),
                ("X-Multi", "one"),
                ("X-Multi", "two"),
                ("X-Seen-User-Agent", self.headers.get("User-Agent", "")),
                ("X-Seen-Request-Id", self.headers.get("X-Request-Id", "")),
                ("X-Seen-Method", self.command),
            ])
        elif path == "/echo":
            body = self.read_body()
            self.send(200, body, [
                ("Content-Type", "application/octet-stream"),
                ("X-Echo-Content-Type", self.headers.get("Content-Type", "<none>")),
                ("X-Echo-Expect", self.headers.get("Expect", "<none>")),
                ("X-Seen-Method", self.command),
            ])
        elif path.startswith("/status/"):
            code = int(path.rsplit("/", 1)[1])
            headers = [("Retry-After", "7")] if code == 429 else []
            self.send(code, b'{"error":"status %d"}' % code, headers)
        elif path == "/slow":
            if "id" in query:
                arrival_event(query["id"]).set()
            time.sleep(min(float(query.get("seconds", "5")), 60))
            self.send(200, b"slow done")
        elif path == "/arrived":
            # Blocks until the /slow request with this id has reached the server.
            ok = arrival_event(query["id"]).wait(timeout=20)
            self.send(200 if ok else 504, b"ok" if ok else b"never arrived")
        elif path == "/bytes":
            n = int(query["n"])
            if query.get("chunked") == "1":
                self.send_response(200)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                chunk = b"x" * 65536
                remaining = n
                while remaining > 0:
                    part = chunk[: min(remaining, len(chunk))]
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                    remaining -= len(part)
                self.wfile.write(b"0\r\n\r\n")
            else:
                self.send(200, b"x" * n)
        elif path == "/redirect":
            self.send(302, b"", [("Location", query.get("to", "/hello"))])
        elif path == "/barrier":
            # Counts concurrent requests and releases them in groups of 4. The
            # count is decremented before responding, so a client cannot start
            # its next request while the server still counts the previous one.
            with stats_lock:
                in_flight += 1
                max_in_flight = max(max_in_flight, in_flight)
            try:
                barrier.wait()
                status = 200
            except threading.BrokenBarrierError:
                status = 504
            with stats_lock:
                in_flight -= 1
            self.send(status, query.get("id", "").encode())
        elif path == "/stats":
            with stats_lock:
                body = json.dumps({"maxInFlight": max_in_flight}).encode()
            self.send(200, body, [("Content-Type", "application/json")])
        else:
            self.send(404, b"not found")


def closed_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    # Hard cap, even if the parent never closes stdin.
    threading.Timer(MAX_LIFETIME_SECONDS, lambda: os._exit(0)).start()
    print("PORT %d CLOSED %d" % (server.server_address[1], closed_port()), flush=True)
    try:
        while sys.stdin.buffer.read(4096):
            pass
    finally:
        os._exit(0)


if __name__ == "__main__":
    main()
