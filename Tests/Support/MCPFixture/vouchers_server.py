#!/usr/bin/env python3
"""A small MCP server over stdio (newline-delimited JSON-RPC 2.0) for the tests: a voucher
service with one read tool and one write tool. The write honours `_meta.idempotencyKey`: a
repeated key returns the first voucher instead of issuing another. Every call is appended to
the JSON-lines file named by VOUCHER_LOG (tool, arguments, key, whether it issued), so a test
can count the effects.
"""
import json
import os
import sys

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


def main():
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        request = json.loads(line)
        if "id" not in request:
            continue  # a notification (notifications/initialized)
        try:
            response = {"jsonrpc": "2.0", "id": request["id"], "result": handle(request)}
        except LookupError as error:
            response = {"jsonrpc": "2.0", "id": request["id"], "error": {"code": -32601, "message": str(error)}}
        sys.stdout.write(json.dumps(response) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
