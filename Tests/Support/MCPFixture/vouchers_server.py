#!/usr/bin/env python3
"""A small MCP server over stdio (newline-delimited JSON-RPC 2.0) for the tests: a voucher
service with one read tool and one write tool. The write honours `_meta.idempotencyKey`: a
repeated key returns the first voucher instead of issuing another. Every call is appended to
the JSON-lines file named by VOUCHER_LOG (tool, arguments, key, whether it issued), so a test
can count the effects.

With `--http`, the same server speaks MCP's streamable HTTP transport instead, on
127.0.0.1 (its first line on stdout is `PORT <n>`); it exits when stdin reaches EOF or after
300 s. It is strict where a client could go wrong: POST needs `Accept` with both
application/json and text/event-stream; `initialize` starts a session whose id
(`Mcp-Session-Id`) and the `MCP-Protocol-Version` must come on every later request (400
without, 404 for a session it does not know); with MCP_TOKEN set, `Authorization: Bearer
<token>` is required (401). `initialize` and `tools/call` answer as an event stream (a call's
answer follows a log notification), `tools/list` as JSON, notifications with 202. POST /_forget
drops every session, as a restarted server would.
"""
import json
import os
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOG = os.environ.get("VOUCHER_LOG")
issued = {}  # idempotency key -> voucher
counter = [0]


def record(entry):
    if LOG:
        with open(LOG, "a") as log:
            log.write(json.dumps(entry) + "\n")


TOOLS = [
    {
        "name": "issue_voucher",
        "description": "Issues a store-credit voucher to a customer.",
        "inputSchema": {
            "type": "object",
            "required": ["amount", "order_id"],
            "additionalProperties": False,
            "properties": {
                "amount": {"type": "number", "exclusiveMinimum": 0, "maximum": 100},
                "order_id": {"type": "string", "pattern": "^[A-Z]{3}[0-9]{3}$"},
            },
        },
        "outputSchema": {
            "type": "object",
            "required": ["voucher_id", "amount"],
            "properties": {"voucher_id": {"type": "string"}, "amount": {"type": "number"}, "order_id": {"type": "string"}},
        },
        "annotations": {"readOnlyHint": False, "idempotentHint": True},
    },
    {
        "name": "voucher_balance",
        "description": "The store credit left on a customer's vouchers.",
        "inputSchema": {"type": "object", "properties": {"order_id": {"type": "string"}}},
        "annotations": {"readOnlyHint": True},
    },
]


def handle(request):
    method = request.get("method")
    params = request.get("params") or {}
    if method == "initialize":
        return {
            "protocolVersion": params.get("protocolVersion", "2025-06-18"),
            "capabilities": {"tools": {"listChanged": False}},
            "serverInfo": {"name": "vouchers", "version": "1.0.0"},
        }
    if method == "tools/list":
        return {"tools": TOOLS}
    if method == "ping":
        return {}
    if method == "tools/call":
        name = params.get("name")
        arguments = params.get("arguments") or {}
        key = (params.get("_meta") or {}).get("idempotencyKey")
        if name == "issue_voucher":
            if arguments.get("amount", 0) > 100:
                record({"tool": name, "arguments": arguments, "key": key, "issued": False})
                return {"content": [{"type": "text", "text": "vouchers are at most 100"}], "isError": True}
            if key in issued:
                record({"tool": name, "arguments": arguments, "key": key, "issued": False})
                voucher = issued[key]
            else:
                counter[0] += 1
                voucher = {"voucher_id": "V-%04d" % counter[0], "amount": arguments["amount"], "order_id": arguments["order_id"]}
                if key is not None:
                    issued[key] = voucher
                record({"tool": name, "arguments": arguments, "key": key, "issued": True})
            return {"content": [{"type": "text", "text": json.dumps(voucher)}], "structuredContent": voucher}
        if name == "voucher_balance":
            record({"tool": name, "arguments": arguments, "key": key, "issued": False})
            total = sum(v["amount"] for v in issued.values())
            return {"content": [{"type": "text", "text": json.dumps({"balance": total})}]}
        raise LookupError("unknown tool " + str(name))
    raise LookupError("unknown method " + str(method))


def respond(request):
    try:
        return {"jsonrpc": "2.0", "id": request["id"], "result": handle(request)}
    except LookupError as error:
        return {"jsonrpc": "2.0", "id": request["id"], "error": {"code": -32601, "message": str(error)}}


sessions = {}  # session id -> protocol version
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def send(self, status, body=b"", content_type=None, headers=None):
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def authorised(self):
        token = os.environ.get("MCP_TOKEN")
        if token and self.headers.get("Authorization") != "Bearer " + token:
            self.send(401, b'{"error": "unauthorised"}', "application/json")
            return False
        return True

    def do_DELETE(self):
        with lock:
            found = sessions.pop(self.headers.get("Mcp-Session-Id"), None)
        self.send(200 if found else 404)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path == "/_forget":
            with lock:
                sessions.clear()
            return self.send(200)
        if not self.authorised():
            return
        accept = self.headers.get("Accept", "")
        if "application/json" not in accept or "text/event-stream" not in accept:
            return self.send(406, b"Accept must list application/json and text/event-stream")
        message = json.loads(body)
        if message.get("method") == "initialize":
            session = uuid.uuid4().hex
            result = respond(message)
            with lock:
                sessions[session] = result["result"]["protocolVersion"]
            return self.stream([result], {"Mcp-Session-Id": session})
        session = self.headers.get("Mcp-Session-Id")
        if session is None or self.headers.get("MCP-Protocol-Version") is None:
            return self.send(400, b"Mcp-Session-Id and MCP-Protocol-Version are required")
        with lock:
            version = sessions.get(session)
        if version is None:
            return self.send(404, b"unknown session")
        if self.headers.get("MCP-Protocol-Version") != version:
            return self.send(400, b"protocol version differs from the negotiated one")
        if "id" not in message:
            return self.send(202)
        response = respond(message)
        if message.get("method") == "tools/list":
            return self.send(200, json.dumps(response).encode(), "application/json")
        log = {"jsonrpc": "2.0", "method": "notifications/message", "params": {"level": "info", "data": "calling"}}
        self.stream([log, response])

    def stream(self, messages, headers=None):
        events = "".join("event: message\r\ndata: %s\r\n\r\n" % json.dumps(m) for m in messages)
        self.send(200, (": vouchers\n\n" + events).encode(), "text/event-stream", headers)


def serve_http():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    threading.Timer(300, lambda: os._exit(0)).start()
    sys.stdout.write("PORT %d\n" % server.server_address[1])
    sys.stdout.flush()
    sys.stdin.read()
    os._exit(0)


def main():
    if "--http" in sys.argv:
        return serve_http()
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        request = json.loads(line)
        if "id" not in request:
            continue  # a notification (notifications/initialized)
        sys.stdout.write(json.dumps(respond(request)) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
