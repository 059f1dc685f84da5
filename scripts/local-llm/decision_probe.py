#!/usr/bin/env python3
"""Probe the planner's decision call against a local llama.cpp server (llm-server.py).

Builds the decision request in Python either the way the Swift planner built it before
issue 11 (`--variant baseline`: PromptBuilder + DecisionContract + LLMBrain as they were,
byte-for-byte for the first turn) or the shape the investigation recommended and the planner
now follows in the main (`--variant recommended`; docs/BRAINS.md, "Small models"),
sends a list of customer messages, checks every answer with DecisionContract's rules
(re-implemented here), runs up to 2 repairs like LLMBrain, and prints one row per message
plus a summary.

    python3 scripts/local-llm/decision_probe.py --variant recommended          # starts a server
    python3 scripts/local-llm/decision_probe.py --url http://127.0.0.1:PORT --variant baseline
    python3 scripts/local-llm/decision_probe.py --variant recommended --set fewshot=0 --set order=alpha

`--set key=value` overrides one knob of the recommended request (see RECOMMENDED below), so a
single variable can be measured against the recommendation. `--json FILE` writes every call.

Python stdlib only (urllib); PyYAML is used to read the pack when importable, otherwise the
retail pack's relevant parts are hardcoded below.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))

# --------------------------------------------------------------------------------------------
# Pack


def load_pack(path: str) -> dict:
    try:
        import yaml  # type: ignore
    except ImportError:
        if os.path.basename(path) != "retail.yaml":
            raise SystemExit("PyYAML is not installed; only the built-in retail pack is available")
        return RETAIL_FALLBACK
    with open(path, encoding="utf-8") as f:
        raw = yaml.safe_load(f)
    pack = {"name": raw["name"], "tools": {}, "intents": []}
    for name, tool in raw.get("tools", {}).items():
        pack["tools"][name] = {"description": tool.get("description", ""), "input_schema": tool.get("input_schema", {"type": "object"})}
    for intent in raw.get("intents", []):
        pack["intents"].append({
            "name": intent["name"],
            "action": intent.get("action", "respond"),
            "slots": [{"name": s["name"], "uppercase": bool(s.get("uppercase", False)), "type": s.get("type", "string")} for s in intent.get("slots", [])],
            "steps": [{"tool": s["tool"], "args": s.get("args", {}), "why": s.get("why", "")} for s in intent.get("steps", [])],
            "reply": intent.get("reply"),
        })
    return pack


_ORDER = {"type": "object", "required": ["order_id"], "additionalProperties": False,
          "properties": {"order_id": {"type": "string", "pattern": "^[A-Z]{3}[0-9]{3}$"}}}
_OID = {"name": "order_id", "uppercase": True, "type": "string"}
RETAIL_FALLBACK = {
    "name": "retail",
    "tools": {
        "get_order_status": {"description": "Look up an order's status, carrier, tracking number and expected delivery.", "input_schema": _ORDER},
        "get_order": {"description": "An order's status, total, what is left to refund, and its shipping address.", "input_schema": _ORDER},
        "search_kb": {"description": "The best passages of the help centre for a question, with the document each comes from.",
                      "input_schema": {"type": "object", "required": ["query"], "additionalProperties": False, "properties": {
                          "query": {"type": "string", "minLength": 2, "maxLength": 500}, "limit": {"type": "integer", "minimum": 1, "maximum": 10}}}},
        "get_invoice": {"description": "The latest invoice of an order, with a link to its PDF.", "input_schema": _ORDER},
        "create_ticket": {"description": "Opens a support ticket for the team to follow up.",
                          "input_schema": {"type": "object", "required": ["subject", "body"], "additionalProperties": False, "properties": {
                              "subject": {"type": "string", "minLength": 3, "maxLength": 200}, "body": {"type": "string", "minLength": 3, "maxLength": 4000},
                              "priority": {"enum": ["low", "normal", "high"]}, "order_id": {"type": "string", "pattern": "^[A-Z]{3}[0-9]{3}$"}}}},
        "create_refund": {"description": "Refunds part or all of an order (tier 1 up to the tenant's auto-refund limit, tier 2 above).",
                          "input_schema": {"type": "object", "required": ["order_id", "amount"], "additionalProperties": False, "properties": {
                              "order_id": {"type": "string", "pattern": "^[A-Z]{3}[0-9]{3}$"},
                              "amount": {"type": "number", "exclusiveMinimum": 0, "maximum": 100000, "multipleOf": 0.01},
                              "reason": {"type": "string", "maxLength": 500}}}},
        "cancel_order": {"description": "Cancels an order that has not shipped yet.", "input_schema": _ORDER},
        "update_shipping_address": {"description": "Changes where an order that has not shipped yet will be delivered.",
                                    "input_schema": {"type": "object", "required": ["order_id", "address"], "additionalProperties": False, "properties": {
                                        "order_id": {"type": "string", "pattern": "^[A-Z]{3}[0-9]{3}$"},
                                        "address": {"type": "string", "minLength": 8, "maxLength": 300}}}},
        "send_email": {"description": "Emails the customer of an order (queued in the outbox; a mailer sends it).",
                       "input_schema": {"type": "object", "required": ["order_id", "subject", "body"], "additionalProperties": False, "properties": {
                           "order_id": {"type": "string", "pattern": "^[A-Z]{3}[0-9]{3}$"},
                           "subject": {"type": "string", "minLength": 3, "maxLength": 200}, "body": {"type": "string", "minLength": 3, "maxLength": 10000}}}},
    },
    "intents": [
        {"name": "human_agent", "action": "handover", "slots": [], "steps": [], "reply": "Of course. I'm passing you to a member of our team, who will pick this up shortly."},
        {"name": "refund", "action": "tool_calls", "slots": [_OID, {"name": "amount", "uppercase": False, "type": "number"}],
         "steps": [{"tool": "get_order", "args": {"order_id": "{{order_id}}"}, "why": ""},
                   {"tool": "create_refund", "args": {"order_id": "{{order_id}}", "amount": "{{amount}}", "reason": "customer request"}, "why": ""}], "reply": None},
        {"name": "cancel_order", "action": "tool_calls", "slots": [_OID],
         "steps": [{"tool": "get_order", "args": {"order_id": "{{order_id}}"}, "why": ""}, {"tool": "cancel_order", "args": {"order_id": "{{order_id}}"}, "why": ""}], "reply": None},
        {"name": "change_address", "action": "tool_calls", "slots": [_OID, {"name": "address", "uppercase": False, "type": "string"}],
         "steps": [{"tool": "get_order", "args": {"order_id": "{{order_id}}"}, "why": ""},
                   {"tool": "update_shipping_address", "args": {"order_id": "{{order_id}}", "address": "{{address}}"}, "why": ""}], "reply": None},
        {"name": "email_invoice", "action": "tool_calls", "slots": [_OID],
         "steps": [{"tool": "send_email", "args": {"order_id": "{{order_id}}", "subject": "Your invoice", "body": "As you asked, here is the invoice for your order."}, "why": ""}], "reply": None},
        {"name": "invoice", "action": "tool_calls", "slots": [_OID], "steps": [{"tool": "get_invoice", "args": {"order_id": "{{order_id}}"}, "why": ""}], "reply": None},
        {"name": "complaint", "action": "tool_calls", "slots": [_OID],
         "steps": [{"tool": "create_ticket", "args": {"order_id": "{{order_id}}", "subject": "Damaged or faulty item", "body": "The customer reported a damaged or faulty item in this order.", "priority": "high"}, "why": ""}], "reply": None},
        {"name": "order_status", "action": "tool_calls", "slots": [_OID], "steps": [{"tool": "get_order_status", "args": {"order_id": "{{order_id}}"}, "why": ""}], "reply": None},
        {"name": "greeting", "action": "respond", "slots": [], "steps": [], "reply": "Hello! I can help with your orders, for example where an order is. What can I do for you?"},
    ],
}


def compact(value) -> str:
    """The Swift JSON serializer: sorted keys, no spaces, `/` not escaped."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def fence(text: str, source: str) -> str:
    return f'<<<UNTRUSTED source="{source}">>>\n{text}\n<<<END UNTRUSTED>>>'


# --------------------------------------------------------------------------------------------
# Today's request (PromptBuilder.messages + DecisionContract.responseSchema + LLMBrain)


def baseline_system(pack: dict) -> str:
    s = (f'You are the planning brain of a customer-support assistant for "{pack["name"]}". You never act yourself: '
         "you decide, and deterministic tools act. Answer with ONE JSON object matching the given schema, nothing else.\n\n"
         "Fields:\n"
         '- intent: one of the intents below, or "unknown".\n'
         "- confidence: integer 0-100.\n"
         "- entities: values the customer gave (slot name -> text). Do not invent values.\n"
         '- next_action: "tool_calls" (steps use the tools below), "clarify" (ask clarification_question), '
         '"respond" (reply holds the answer), or "handover" (a human takes over).\n'
         "- steps: for tool_calls, each {tool, args, why}; args must follow the tool's argument schema.\n"
         "- clarification_question: for clarify, one question asking for exactly one missing piece; else null.\n"
         "- reply: for respond, the answer to the customer; else null.\n"
         "- explain: one sentence on why.\n\n"
         "Intents:")
    for intent in pack["intents"]:
        line = f'- {intent["name"]}: action {intent["action"]}'
        if intent["slots"]:
            line += "; needs " + ", ".join(x["name"] for x in intent["slots"])
        if intent["steps"]:
            line += "; tools " + ", ".join(x["tool"] for x in intent["steps"])
        s += "\n" + line
    s += "\n\nTools:"
    for name in sorted(pack["tools"]):
        tool = pack["tools"][name]
        s += f'\n- {name}: {tool["description"]} Arguments: {compact(tool["input_schema"])}'
    return s


def baseline_schema(pack: dict, tool_names=None) -> dict:
    intents = [i["name"] for i in pack["intents"]] + ["unknown"]
    tools = sorted(pack["tools"])
    if tool_names is None:
        tool_names = {"enum": tools} if tools else {"type": "string"}
    return {
        "type": "object", "additionalProperties": False,
        "required": ["intent", "confidence", "entities", "next_action", "steps", "clarification_question", "reply", "explain"],
        "properties": {
            "intent": {"enum": intents},
            "confidence": {"type": "integer", "minimum": 0, "maximum": 100},
            "entities": {"type": "object", "additionalProperties": {"type": "string", "maxLength": 200}},
            "workflow": {"type": "string", "maxLength": 200},
            "next_action": {"enum": ["tool_calls", "clarify", "respond", "handover"]},
            "steps": {"type": "array", "maxItems": 5, "items": {
                "type": "object", "additionalProperties": False, "required": ["tool", "args", "why"],
                "properties": {"tool": tool_names, "args": {"type": "object"}, "why": {"type": "string", "maxLength": 500}}}},
            "clarification_question": {"type": ["string", "null"], "maxLength": 500},
            "reply": {"type": ["string", "null"], "maxLength": 2000},
            "explain": {"type": "string", "maxLength": 1000},
        },
    }


def sort_keys_deep(value):
    if isinstance(value, dict):
        return {k: sort_keys_deep(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [sort_keys_deep(v) for v in value]
    return value


def baseline_request(pack: dict, text: str, history=None) -> dict:
    messages = [{"role": "system", "content": baseline_system(pack)}] + list(history or [])
    messages.append({"role": "user", "content": fence(text, "customer")})
    # What reaches the server: every object's keys sorted (the Swift serializer).
    return sort_keys_deep({
        "model": "smollm2", "messages": messages, "stream": False, "temperature": 0, "seed": 0, "max_tokens": 400,
        "response_format": {"type": "json_schema", "json_schema": {"name": "decision", "schema": baseline_schema(pack), "strict": True}},
    })


def baseline_repair(errors: list[str]) -> str:
    return "Your answer was not valid:\n" + "\n".join(f"- {e}" for e in errors[:10]) + "\nAnswer again with one corrected JSON object only."


# --------------------------------------------------------------------------------------------
# The recommended request. Every knob can be overridden with --set key=value.

RECOMMENDED = {
    "order": "required",     # alpha (today: keys sorted) | required (properties in the order of `required`)
    "entities": "slots",     # open (today) | slots (one nullable string property per pack slot name, all required)
    "workflow": "drop",      # keep | drop
    "lengths": "tight",      # orig | tight (short caps on every free string) | none
    "args": "per_tool",      # object (today) | per_tool (anyOf of {tool: const, args: tool's input_schema, why})
    "explain": "last",       # last (required, short) | drop
    "prompt": "compact",     # baseline (today's text) | compact
    "fewshot": 5,            # number of example exchanges taken from FEWSHOT[fewset]
    "max_tokens": 200,
    "stop": "none",          # none | eot  (stop sequences; llama.cpp stops at the end of the grammar anyway)
    "repair": "short",       # baseline | short
    "confidence": "keep",    # keep | drop
    "shape": "per_intent",       # flat (one object schema) | per_intent (anyOf: one variant per intent and action, steps fixed by the pack)
    "fewset": "retail5",     # which example list FEWSHOT[...] the examples come from
    "fence": "on",           # on (customer text inside <<<UNTRUSTED ...>>> as today) | off
}

TIGHT = {"entity": 60, "why": 80, "question": 160, "reply": 300, "explain": 100}


def slot_names(pack: dict) -> list[str]:
    seen: list[str] = []
    for intent in pack["intents"]:
        for slot in intent["slots"]:
            if slot["name"] not in seen:
                seen.append(slot["name"])
    return seen


def strip_unsupported(schema):
    """Keywords the grammar cannot express are harmless, but `multipleOf` etc. add nothing."""
    if isinstance(schema, dict):
        return {k: strip_unsupported(v) for k, v in schema.items() if k not in ("multipleOf",)}
    if isinstance(schema, list):
        return [strip_unsupported(v) for v in schema]
    return schema


def cap_lengths(schema, cap: int):
    """A shorter maxLength on every string of a tool's arguments: stricter than the tool, so still valid."""
    if isinstance(schema, dict):
        out = {k: cap_lengths(v, cap) for k, v in schema.items()}
        if out.get("type") == "string" or out.get("type") == ["string", "null"]:
            out["maxLength"] = min(out.get("maxLength", cap), cap)
        return out
    if isinstance(schema, list):
        return [cap_lengths(v, cap) for v in schema]
    return schema


def recommended_schema(pack: dict, o: dict) -> dict:
    L = TIGHT if o["lengths"] == "tight" else None

    def string(kind, nullable=False, orig=None):
        s = {"type": ["string", "null"] if nullable else "string"}
        if o["lengths"] == "tight":
            s["maxLength"] = L[kind]
        elif o["lengths"] == "orig" and orig:
            s["maxLength"] = orig
        return s

    intents = [i["name"] for i in pack["intents"]] + ["unknown"]
    tools = sorted(pack["tools"])
    if o["entities"] == "open":
        entities = {"type": "object", "additionalProperties": string("entity", orig=200)}
    else:
        names = slot_names(pack)
        entities = {"type": "object", "additionalProperties": False, "required": names,
                    "properties": {n: string("entity", nullable=True, orig=200) for n in names}}
    if o["args"] == "per_tool":
        variants = []
        for name in tools:
            args = strip_unsupported(pack["tools"][name]["input_schema"])
            if o["lengths"] == "tight":
                args = cap_lengths(args, 200)
            if o["order"] == "required" and "properties" in args:
                req = args.get("required", [])
                props = args["properties"]
                args = dict(args)
                args["properties"] = {k: props[k] for k in [*req, *[k for k in props if k not in req]]}
            variants.append({"type": "object", "additionalProperties": False, "required": ["tool", "args", "why"],
                             "properties": {"tool": {"const": name}, "args": args, "why": string("why", orig=500)}})
        items = {"anyOf": variants}
    else:
        items = {"type": "object", "additionalProperties": False, "required": ["tool", "args", "why"],
                 "properties": {"tool": {"enum": tools}, "args": {"type": "object"}, "why": string("why", orig=500)}}
    props = {
        "intent": {"enum": intents},
        "confidence": {"type": "integer", "minimum": 0, "maximum": 100},
        "entities": entities,
        "next_action": {"enum": ["tool_calls", "clarify", "respond", "handover"]},
        "steps": {"type": "array", "maxItems": 3 if o["lengths"] == "tight" else 5, "items": items},
        "clarification_question": string("question", nullable=True, orig=500),
        "reply": string("reply", nullable=True, orig=2000),
        "explain": string("explain", orig=1000),
    }
    if o["workflow"] == "keep":
        props["workflow"] = string("why", orig=200)
    required = ["intent", "confidence", "entities", "next_action", "steps", "clarification_question", "reply", "explain"]
    if o["explain"] == "drop":
        required.remove("explain")
        del props["explain"]
    if o["confidence"] == "drop":
        required.remove("confidence")
        del props["confidence"]
    if o["order"] == "required":
        props = {k: props[k] for k in [*required, *[k for k in props if k not in required]]}
    schema = {"type": "object", "additionalProperties": False, "required": required, "properties": props}
    if o.get("shape") == "per_intent":
        schema = per_intent_schema(pack, o, schema)
    # alpha: what the Swift serializer sends today, every object's keys sorted (so also `args` before `tool`).
    return schema if o["order"] == "required" else sort_keys_deep(schema)


def per_intent_schema(pack: dict, o: dict, flat: dict) -> dict:
    """anyOf of one variant per (intent, next_action): the grammar then forces the pack's own steps
    (tools in order, args typed by each tool) once the intent is chosen. Every variant is valid
    under the flat schema, so validation does not change."""
    props = flat["properties"]
    tools = {}
    for v in props["steps"]["items"].get("anyOf", []):
        tools[v["properties"]["tool"]["const"]] = v
    null = {"type": "null"}
    empty = {"type": "array", "maxItems": 0}

    def variant(intent, action, steps, question, reply):
        p = dict(props)
        p["intent"] = {"const": intent}
        p["next_action"] = {"const": action}
        p["steps"] = steps
        p["clarification_question"] = question
        p["reply"] = reply
        return {"type": "object", "additionalProperties": False, "required": flat["required"], "properties": {k: p[k] for k in props}}

    variants = []
    for intent in pack["intents"]:
        if intent["action"] == "tool_calls":
            seq = [tools[s["tool"]] for s in intent["steps"]]
            variants.append(variant(intent["name"], "tool_calls", {"type": "array", "prefixItems": seq, "minItems": len(seq), "maxItems": len(seq)}, null, null))
            if intent["slots"]:
                variants.append(variant(intent["name"], "clarify", empty, props["clarification_question"] | {"type": "string"}, null))
        elif intent["action"] == "respond":
            variants.append(variant(intent["name"], "respond", empty, null, props["reply"] | {"type": "string"}))
        else:
            variants.append(variant(intent["name"], "handover", empty, null, null))
    variants.append(variant("unknown", "handover", empty, null, null))
    return {"anyOf": variants}


def tool_signature(name: str, schema: dict) -> str:
    props = schema.get("properties", {})
    req = schema.get("required", [])
    ordered = [*req, *[k for k in props if k not in req]]
    return f'{name}({", ".join(k if k in req else k + "?" for k in ordered)})'


def recommended_system(pack: dict, o: dict) -> str:
    """Static for a pack: everything per-conversation goes into the last user message."""
    lines = [
        f'You are the planner of a customer-support assistant for "{pack["name"]}". '
        "Read the customer's message and answer with ONE JSON object, nothing else.",
        "",
        "Intents (name: next_action when all slots are known; slots; steps):",
    ]
    for intent in pack["intents"]:
        line = f'- {intent["name"]}: {intent["action"]}'
        if intent["slots"]:
            line += "; slots " + ", ".join(x["name"] for x in intent["slots"])
        if intent["steps"]:
            line += "; steps " + ", ".join(x["tool"] for x in intent["steps"])
        lines.append(line)
    lines.append("- unknown: handover (anything else)")
    lines += ["", "Tools:"]
    for name in sorted(pack["tools"]):
        lines.append(f"- {tool_signature(name, pack['tools'][name]['input_schema'])}: {pack['tools'][name]['description']}")
    lines += [
        "",
        "Rules:",
        "- entities: only values written by the customer; null when not given.",
        "- next_action: the intent's action when its slots are known; \"clarify\" when a slot is missing "
        "(clarification_question asks for it); \"respond\" with a short reply for greetings; \"handover\" for human_agent and unknown.",
        "- steps: for tool_calls, the intent's steps in order with their args; otherwise [].",
        "- clarification_question and reply: null unless next_action needs them.",
    ]
    if o["explain"] != "drop":
        lines.append("- explain: a few words.")
    return "\n".join(lines)


def ideal_decision(pack: dict, intent_name: str, values: dict, o: dict, action=None, question=None, reply=None) -> dict:
    intent = next((i for i in pack["intents"] if i["name"] == intent_name), None)
    action = action or (intent["action"] if intent else "handover")
    steps = []
    if action == "tool_calls":
        for step in intent["steps"]:
            args = {}
            for k, v in step["args"].items():
                if isinstance(v, str) and v.startswith("{{") and v.endswith("}}"):
                    slot = v[2:-2]
                    val = values.get(slot)
                    slot_type = next((s["type"] for s in intent["slots"] if s["name"] == slot), "string")
                    args[k] = (float(val) if "." in str(val) else int(val)) if slot_type == "number" else val
                else:
                    args[k] = v
            steps.append({"tool": step["tool"], "args": args, "why": intent_name})
    d = {"intent": intent_name, "confidence": 90}
    if o["entities"] == "open":
        d["entities"] = {k: str(v) for k, v in values.items()}
    else:
        d["entities"] = {n: (str(values[n]) if n in values else None) for n in slot_names(pack)}
    d.update({"next_action": action, "steps": steps, "clarification_question": question, "reply": reply})
    if o["explain"] != "drop":
        d["explain"] = {"tool_calls": "slots known", "clarify": "a slot is missing", "respond": "greeting", "handover": "needs a person"}[action]
    if o["confidence"] == "drop":
        del d["confidence"]
    return d


# Example exchanges for few-shot prompting (retail). A pack could carry these (`examples:`);
# the decision JSON is built from the pack's own steps so it always matches the schema.
FEWSHOT = {
    "retail5": [
        ("hello there", "greeting", {}, None, None, "Hello! How can I help you with your order?"),
        ("Can I speak to a real person?", "human_agent", {}, None, None, None),
        ("I'd like my money back please", "refund", {}, "clarify", "What is the order number? It's the six-character code in your confirmation email, like ABC123.", None),
        ("Please cancel my order KLM456", "cancel_order", {"order_id": "KLM456"}, None, None, None),
        ("Has order QRS321 shipped yet?", "order_status", {"order_id": "QRS321"}, None, None, None),
    ],
    "retail": [
        ("Has order KLM456 shipped yet?", "order_status", {"order_id": "KLM456"}, None, None, None),
        ("I'd like my money back please", "refund", {}, "clarify", "What is the order number? It's the six-character code in your confirmation email, like ABC123.", None),
        ("hello there", "greeting", {}, None, None, "Hello! How can I help you with your order?"),
    ],
}


def fewshot_messages(pack: dict, o: dict, n: int) -> list[dict]:
    out = []
    key = pack["name"] if o.get("fewset", "default") == "default" else o["fewset"]
    for text, intent, values, action, question, reply in FEWSHOT.get(key, [])[:n]:
        out.append({"role": "user", "content": fence(text, "customer") if o.get("fence", "on") == "on" else text})
        out.append({"role": "assistant", "content": json.dumps(ideal_decision(pack, intent, values, o, action, question, reply), separators=(",", ":"))})
    return out


def recommended_request(pack: dict, text: str, o: dict, history=None) -> dict:
    system = baseline_system(pack) if o["prompt"] == "baseline" else recommended_system(pack, o)
    messages = [{"role": "system", "content": system}] + fewshot_messages(pack, o, int(o["fewshot"])) + list(history or [])
    messages.append({"role": "user", "content": fence(text, "customer") if o.get("fence", "on") == "on" else text})
    body = {"model": "smollm2", "messages": messages, "stream": False, "temperature": 0, "seed": 0,
            "max_tokens": int(o["max_tokens"]),
            "response_format": {"type": "json_schema", "json_schema": {"name": "decision", "schema": recommended_schema(pack, o), "strict": True}}}
    if o["stop"] == "eot":
        body["stop"] = ["<|im_end|>", "\n\n\n"]
    return body


def recommended_repair(errors: list[str]) -> str:
    return ("That answer broke these rules:\n" + "\n".join(f"- {e}" for e in errors[:5])
            + "\nWrite the whole JSON object again, fixed.")


# --------------------------------------------------------------------------------------------
# DecisionContract.check, re-implemented (JSON Schema subset used by the contract and the packs)


def _type_ok(value, t) -> bool:
    if isinstance(t, list):
        return any(_type_ok(value, x) for x in t)
    return {
        "object": isinstance(value, dict), "array": isinstance(value, list), "string": isinstance(value, str),
        "null": value is None, "boolean": isinstance(value, bool),
        "integer": isinstance(value, int) and not isinstance(value, bool) or (isinstance(value, float) and value.is_integer()),
        "number": isinstance(value, (int, float)) and not isinstance(value, bool),
    }[t]


def validate(value, schema: dict, path: str = "", errors=None) -> list[str]:
    errors = [] if errors is None else errors
    where = path or "/"
    if "anyOf" in schema:
        if not any(not validate(value, s, path) for s in schema["anyOf"]):
            errors.append(f"{where}: matches none of the allowed shapes")
    if "type" in schema and not _type_ok(value, schema["type"]):
        errors.append(f"{where}: should be {schema['type']}")
        return errors
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{where}: should be one of {schema['enum']}")
    if "const" in schema and value != schema["const"]:
        errors.append(f"{where}: should be {schema['const']!r}")
    if isinstance(value, str):
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errors.append(f"{where}: longer than {schema['maxLength']}")
        if "minLength" in schema and len(value) < schema["minLength"]:
            errors.append(f"{where}: shorter than {schema['minLength']}")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errors.append(f"{where}: does not match {schema['pattern']}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(f"{where}: below {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(f"{where}: above {schema['maximum']}")
        if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
            errors.append(f"{where}: should be > {schema['exclusiveMinimum']}")
        if "multipleOf" in schema and abs(round(value / schema["multipleOf"]) * schema["multipleOf"] - value) > 1e-9:
            errors.append(f"{where}: not a multiple of {schema['multipleOf']}")
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for k in schema.get("required", []):
            if k not in value:
                errors.append(f"{where}: missing {k}")
        for k, v in value.items():
            if k in props:
                validate(v, props[k], f"{path}/{k}", errors)
            elif schema.get("additionalProperties") is False:
                errors.append(f"{where}: unexpected property {k}")
            elif isinstance(schema.get("additionalProperties"), dict):
                validate(v, schema["additionalProperties"], f"{path}/{k}", errors)
        if "maxProperties" in schema and len(value) > schema["maxProperties"]:
            errors.append(f"{where}: more than {schema['maxProperties']} properties")
        if "minProperties" in schema and len(value) < schema["minProperties"]:
            errors.append(f"{where}: fewer than {schema['minProperties']} properties")
    if isinstance(value, list):
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errors.append(f"{where}: more than {schema['maxItems']} items")
        for i, v in enumerate(value):
            if "items" in schema:
                validate(v, schema["items"], f"{path}/{i}", errors)
    return errors


def validation_schema(pack: dict, o: dict | None) -> dict:
    """DecisionContract.validationSchema: the response schema with tool names as free strings."""
    if o is None:
        return baseline_schema(pack, {"type": "string", "minLength": 1, "maxLength": 100})
    s = json.loads(json.dumps(recommended_schema(pack, dict(o, args="object", shape="flat"))))
    s["properties"]["steps"]["items"]["properties"]["tool"] = {"type": "string", "minLength": 1, "maxLength": 100}
    return s


def canonical_tool(name: str, known: list[str]):
    if name in known:
        return name
    norm = lambda s: "".join(c for c in s.lower() if c.isascii() and c.isalnum())
    wanted = norm(name)
    if not wanted:
        return None
    for k in known:
        if norm(k) == wanted:
            return k

    def dist(a, b):
        prev = list(range(len(b) + 1))
        for i in range(1, len(a) + 1):
            cur = [i] + [0] * len(b)
            for j in range(1, len(b) + 1):
                cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1]))
            prev = cur
        return prev[len(b)]

    scored = sorted(((k, dist(norm(k), wanted)) for k in known), key=lambda x: x[1])
    limit = max(1, min(3, len(wanted) // 5))
    if scored[0][1] > limit or (len(scored) > 1 and scored[1][1] == scored[0][1]):
        return None
    return scored[0][0]


def strip_fences(output: str) -> str:
    text = output.strip()
    if text.startswith("```"):
        if "\n" in text:
            text = text[text.index("\n") + 1:]
        if text.endswith("```"):
            text = text[:-3]
    return text.strip()


def check(pack: dict, output: str, text: str, o: dict | None) -> tuple[bool, list[str], dict | None]:
    """(valid, errors, decision) following DecisionContract.check for a first turn (no known slots)."""
    try:
        value = json.loads(strip_fences(output))
    except json.JSONDecodeError as e:
        return False, [f"the answer is not JSON ({e}); answer with one JSON object only"], None
    errors = validate(value, validation_schema(pack, o))
    if errors:
        return False, errors[:10], value
    intent_name = value.get("intent", "unknown")
    spec = next((i for i in pack["intents"] if i["name"] == intent_name), None)
    action = value.get("next_action", "handover")
    slots = {}
    for name, raw in (value.get("entities") or {}).items():
        if not isinstance(raw, str) or not raw.strip():
            continue
        raw = raw.strip()
        slot = next((s for s in (spec or {}).get("slots", []) if s["name"] == name), None)
        slots[name] = raw.upper() if slot and slot["uppercase"] else raw
    if action == "tool_calls":
        if not spec or spec["action"] != "tool_calls":
            return False, [f"/next_action: tool_calls needs an intent with tools; {intent_name} has none"], value
        steps = value.get("steps") or []
        if not steps:
            errors.append("/steps: tool_calls needs at least one step")
        for i, step in enumerate(steps):
            asked = step.get("tool", "")
            tool = canonical_tool(asked, list(pack["tools"]))
            if tool is None:
                errors.append(f'/steps/{i}/tool: unknown tool "{asked}"; known tools: {", ".join(sorted(pack["tools"]))}')
                continue
            args = dict(step.get("args") or {})
            for slot in spec["slots"]:
                if isinstance(args.get(slot["name"]), str):
                    args[slot["name"]] = args[slot["name"]].upper() if slot["uppercase"] else args[slot["name"]]
            for name, v in slots.items():
                args.setdefault(name, v)
            props = pack["tools"][tool]["input_schema"].get("properties", {})
            args = {k: v for k, v in args.items() if not props or k in props}
            errors += [f"/steps/{i}/args{e}" for e in validate(args, pack["tools"][tool]["input_schema"])][:5]
        return (not errors), errors, value
    if action == "clarify":
        q = value.get("clarification_question")
        if not isinstance(q, str) or not q.strip():
            return False, ["/clarification_question: clarify needs the question to ask"], value
        return True, [], value
    if action == "respond":
        r = value.get("reply")
        if not (isinstance(r, str) and r.strip()) and not (spec and spec.get("reply")):
            return False, ["/reply: respond needs the reply text"], value
        return True, [], value
    return True, [], value


# --------------------------------------------------------------------------------------------
# Messages and what a correct decision is

MESSAGES = [
    # text, intent, acceptable next_actions, tools expected in order, args that must appear
    ("Where is my order ABC123?", "order_status", ["tool_calls"], ["get_order_status"], {"order_id": "ABC123"}),
    ("Where is my order ZZZ999?", "order_status", ["tool_calls"], ["get_order_status"], {"order_id": "ZZZ999"}),
    ("I want to talk to a human", "human_agent", ["handover"], [], {}),
    ("hi", "greeting", ["respond"], [], {}),
    ("I want a refund of 20 for order ABC123", "refund", ["tool_calls"], ["get_order", "create_refund"], {"order_id": "ABC123", "amount": 20}),
    ("cancel order XYZ789", "cancel_order", ["tool_calls"], ["get_order", "cancel_order"], {"order_id": "XYZ789"}),
    ("where is my invoice for ABC123", "invoice", ["tool_calls"], ["get_invoice"], {"order_id": "ABC123"}),
    ("I want to change the address of ABC123 to 5 Main St, Springfield", "change_address", ["tool_calls"],
     ["get_order", "update_shipping_address"], {"order_id": "ABC123", "address": "5 Main St, Springfield"}),
    ("refund please", "refund", ["clarify"], [], {}),
    ("What's the weather?", "unknown", ["handover", "respond"], [], {}),
]


def grade(decision: dict | None, expect) -> dict:
    _, intent, actions, tools, args = expect
    if not isinstance(decision, dict):
        return {"intent_ok": False, "action_ok": False, "plan_ok": False}
    intent_ok = decision.get("intent") == intent
    action_ok = decision.get("next_action") in actions
    plan_ok = intent_ok and action_ok
    if plan_ok and tools:
        steps = decision.get("steps") or []
        plan_ok = [s.get("tool") for s in steps] == tools
        merged = {}
        for s in steps:
            merged.update(s.get("args") or {})
        for k, v in args.items():
            got = merged.get(k)
            if isinstance(v, (int, float)):
                plan_ok = plan_ok and isinstance(got, (int, float)) and float(got) == float(v)
            else:
                plan_ok = plan_ok and isinstance(got, str) and got.strip().lower() == v.lower()
    return {"intent_ok": intent_ok, "action_ok": action_ok, "plan_ok": plan_ok}


# --------------------------------------------------------------------------------------------
# Running


def post(url: str, body: dict, timeout: float = 180) -> tuple[int, dict, float]:
    req = urllib.request.Request(url + "/v1/chat/completions", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    t = time.monotonic()
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, out = r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        status, out = e.code, {"error": e.read().decode(errors="replace")[:800]}
    return status, out, (time.monotonic() - t) * 1000


def decide(url: str, pack: dict, text: str, variant: str, o: dict, max_repairs: int = 2) -> list[dict]:
    """One decision like LLMBrain.run for one model: call, check, up to max_repairs repairs."""
    body = baseline_request(pack, text) if variant == "baseline" else recommended_request(pack, text, o)
    calls = []
    for attempt in range(1, max_repairs + 2):
        status, out, ms = post(url, body)
        choice = (out.get("choices") or [{}])[0]
        content = (choice.get("message") or {}).get("content") or ""
        finish = choice.get("finish_reason")
        # LLMBrain: finish_reason == length -> the text is dropped ("" -> invalid JSON at byte 0).
        seen = "" if finish == "length" else content
        if status != 200:
            valid, errors, decision = False, [f"HTTP {status}: {out.get('error', '')[:200]}"], None
        else:
            valid, errors, decision = check(pack, seen, text, None if variant == "baseline" else o)
        usage = out.get("usage") or {}
        timings = out.get("timings") or {}
        calls.append({"attempt": attempt, "status": status, "finish": finish, "ms": round(ms), "valid": valid, "errors": errors,
                      "content": content, "decision": decision, "tokens_in": usage.get("prompt_tokens"), "tokens_out": usage.get("completion_tokens"),
                      "cache_n": timings.get("cache_n"), "prompt_n": timings.get("prompt_n"), "prompt_ms": round(timings.get("prompt_ms", 0)),
                      "gen_ms": round(timings.get("predicted_ms", 0))})
        if valid or status != 200:
            break
        body = json.loads(json.dumps(body))
        body["messages"].append({"role": "assistant", "content": seen})
        body["messages"].append({"role": "user", "content": baseline_repair(errors) if variant == "baseline" or o["repair"] == "baseline" else recommended_repair(errors)})
    return calls


def start_server(args) -> tuple[subprocess.Popen, str]:
    py = os.path.join(REPO, ".run", "llm-venv", "bin", "python")
    cmd = [py, os.path.join(HERE, "llm-server.py"), "--port", "0", "--ctx", str(args.ctx), "--threads", str(args.threads), "--parent-watch", "off"]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    if not line.startswith("READY "):
        proc.kill()
        raise SystemExit(f"server did not start: {line!r}")
    return proc, line.split()[1]


def pct(values, p):
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(p / 100 * len(s)) - 1))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", help="a running server (default: start llm-server.py)")
    ap.add_argument("--variant", choices=("baseline", "recommended"), default="recommended")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help=f"override a recommended knob: {RECOMMENDED}")
    ap.add_argument("--pack", default=os.path.join(REPO, "deploy", "packs", "retail.yaml"))
    ap.add_argument("--repeat", type=int, default=1, help="passes over the message list")
    ap.add_argument("--repairs", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--ctx", type=int, default=4096)
    ap.add_argument("--message", action="append", help="custom messages instead of the built-in list (graded on validity only)")
    ap.add_argument("--show", action="store_true", help="print each raw answer")
    ap.add_argument("--dump-request", action="store_true", help="print the request for the first message and exit")
    ap.add_argument("--json", help="write all calls to this file")
    args = ap.parse_args()

    o = dict(RECOMMENDED)
    for kv in args.set:
        k, _, v = kv.partition("=")
        if k not in o:
            raise SystemExit(f"unknown knob {k}; known: {', '.join(o)}")
        o[k] = type(RECOMMENDED[k])(v) if isinstance(RECOMMENDED[k], int) else v
    pack = load_pack(args.pack)
    expectations = [(m, None, [], [], {}) for m in args.message] if args.message else MESSAGES
    if args.dump_request:
        text = expectations[0][0]
        print(json.dumps(baseline_request(pack, text) if args.variant == "baseline" else recommended_request(pack, text, o), indent=2))
        return 0

    proc = None
    url = args.url
    if not url:
        proc, url = start_server(args)
    max_tokens = 400 if args.variant == "baseline" else int(o["max_tokens"])
    print(f"variant={args.variant} url={url} " + ("" if args.variant == "baseline" else " ".join(f"{k}={v}" for k, v in o.items())))
    rows = []
    try:
        for rep in range(args.repeat):
            for expect in expectations:
                calls = decide(url, pack, expect[0], args.variant, o, args.repairs)
                first = calls[0]
                final = next((c for c in calls if c["valid"]), calls[-1])
                g = grade(first["decision"] if first["valid"] else None, expect) if expect[1] else {}
                rows.append({"text": expect[0], "expect": expect[1], "calls": calls, "grade": g, "pass": rep})
                d = first["decision"] if isinstance(first["decision"], dict) else {}
                tools = ",".join(str(s.get("tool")) for s in (d.get("steps") or []) if isinstance(s, dict))
                mark = lambda b: "ok" if b else "--"
                print(f"{expect[0][:44]:44} | valid1={mark(first['valid'])} final={mark(final['valid'])}@{len(calls)} | "
                      f"{str(d.get('intent'))[:14]:14} {mark(g.get('intent_ok'))} | {str(d.get('next_action'))[:10]:10} {mark(g.get('plan_ok'))} | "
                      f"{tools[:40]:40} | {first['finish']:6} in={first['tokens_in']} out={first['tokens_out']} cache={first['cache_n']} | "
                      f"{first['ms']:6} ms (prompt {first['prompt_ms']} gen {first['gen_ms']} other {first['ms'] - first['prompt_ms'] - first['gen_ms']})")
                if args.show:
                    for c in calls:
                        print(f"    #{c['attempt']} {c['content']!r}")
                        if not c["valid"]:
                            print(f"       errors: {c['errors'][:3]}")
    finally:
        if proc:
            proc.stdin.close()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()

    n = len(rows)
    firsts = [r["calls"][0] for r in rows]
    allcalls = [c for r in rows for c in r["calls"]]
    graded = [r for r in rows if r["expect"]]
    ms = [c["ms"] for c in firsts]
    decision_ms = [sum(c["ms"] for c in r["calls"]) for r in rows]
    print()
    print(f"first-attempt valid: {sum(c['valid'] for c in firsts)}/{n} = {100 * sum(c['valid'] for c in firsts) / n:.0f}%   "
          f"valid after repairs: {sum(any(c['valid'] for c in r['calls']) for r in rows)}/{n}")
    if graded:
        print(f"correct intent (first attempt): {sum(r['grade']['intent_ok'] for r in graded)}/{len(graded)}   "
              f"correct next_action: {sum(r['grade']['action_ok'] for r in graded)}/{len(graded)}   "
              f"fully correct (intent+action+tools+args): {sum(r['grade']['plan_ok'] for r in graded)}/{len(graded)}")
    print(f"calls that ran to max_tokens ({max_tokens}): {sum(c['finish'] == 'length' for c in allcalls)}/{len(allcalls)}   "
          f"tokens out first call: median {statistics.median([c['tokens_out'] or 0 for c in firsts]):.0f} max {max(c['tokens_out'] or 0 for c in firsts)}")
    server = [c["prompt_ms"] + c["gen_ms"] for c in firsts]
    print(f"server-side ms (timings.prompt_ms + predicted_ms) first call: median {statistics.median(server):.0f} p95 {pct(server, 95):.0f}   "
          f"ms per generated token: {sum(c['gen_ms'] for c in firsts) / max(1, sum(c['tokens_out'] or 0 for c in firsts)):.1f}")
    print(f"first-call ms: median {statistics.median(ms):.0f} p95 {pct(ms, 95):.0f} max {max(ms)} (first, cold: {ms[0]})   "
          f"decision ms incl. repairs: median {statistics.median(decision_ms):.0f} p95 {pct(decision_ms, 95):.0f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"variant": args.variant, "options": o, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
