"""The same order-status turn as `switchboard bench turns`, as a LangGraph StateGraph.

A scripted (deterministic, no LLM) brain; every step checkpointed durably in Postgres by
PostgresSaver before the next starts; one thread_id per conversation and one conversation
per turn, rotating the same five order ids. The tool runs a real SELECT on the same demo
tables as the executor's get_order_status (schema `commerce`, created and seeded here from
the executor's own migration SQL). Prints lines in the format of `switchboard bench turns`.

    python bench/langgraph/turns.py --dsn postgres://postgres@127.0.0.1:55432/langgraph \
        --count 2000 --concurrency 16 --warmup 100
"""

import argparse
import os
import pathlib
import re
import sys
import threading
import time
import uuid
from typing import Any, Optional, TypedDict

from langgraph.checkpoint.postgres import PostgresSaver
from langgraph.graph import END, START, StateGraph
from psycopg import Connection
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

ROOT = pathlib.Path(__file__).resolve().parents[2]
ORDERS = ["ABC123", "DEF456", "GHI789", "JKL012", "ZZZ999"]
TENANT = "default"

# What deploy/packs/retail.yaml says about this intent and tool.
INTENT_PATTERNS = [
    r"\bwhere('s| is)\b.*\b(order|package|parcel|delivery)\b",
    r"\border\b.*\b(status|update|arrive|arriving|shipped|delivered)\b",
    r"\b(track|tracking)\b",
    r"\b(status of|update on)\b.*\border\b",
    r"\b(has|did|when will)\b.*\b(order|package|parcel)\b",
]
ORDER_ID_SLOT = re.compile(r"\b([A-Za-z]{3}[0-9]{3})\b")
ORDER_ID_ARG = re.compile(r"^[A-Z]{3}[0-9]{3}$")
STATUSES = {"processing", "shipped", "delivered", "cancelled"}
MAX_REPLY_CHARACTERS = 2000


class Turn(TypedDict, total=False):
    conversation_id: str
    customer_id: str
    text: str
    message_id: str
    decision: dict
    step_verdict: dict
    result: dict
    result_verdict: dict
    reply: str
    status: str


def receive(state: Turn) -> Turn:
    text = state.get("text", "").strip()
    if not text or len(text) > 4000:
        raise ValueError("empty or oversized message")
    return {"text": text, "message_id": str(uuid.uuid4())}


def decide(state: Turn) -> Turn:
    """The scripted brain: the pack's patterns, as the rules brain uses them."""
    text = state["text"]
    if any(re.search(p, text, re.IGNORECASE) for p in INTENT_PATTERNS):
        match = ORDER_ID_SLOT.search(text)
        if match:
            order_id = match.group(1).upper()
            return {"decision": {
                "intent": "order_status", "confidence": 1.0, "entities": {"order_id": order_id},
                "next_action": "tool_calls",
                "steps": [{"tool": "get_order_status", "args": {"order_id": order_id},
                           "why": "The customer asked for the status of this order."}],
            }}
    return {"decision": {"intent": "unknown", "confidence": 0.0, "entities": {}, "next_action": "handover", "steps": []}}


def verify_step(state: Turn) -> Turn:
    """Known tool, read risk tier, arguments against the tool's input schema."""
    step = state["decision"]["steps"][0]
    args = step["args"]
    errors = []
    if step["tool"] != "get_order_status":
        errors.append("unknown tool")
    if not isinstance(args, dict):
        errors.append("args: not an object")
    else:
        if "order_id" not in args:
            errors.append("args: order_id required")
        if set(args) - {"order_id"}:
            errors.append("args: additional properties")
        if not isinstance(args.get("order_id"), str) or not ORDER_ID_ARG.match(args["order_id"]):
            errors.append("args.order_id: pattern")
    if errors:
        raise ValueError("; ".join(errors))
    return {"step_verdict": {"approved": True, "risk_tier": "read"}}


def make_execute(conn: Connection, saver: PostgresSaver):
    def execute(state: Turn) -> Turn:
        """get_order_status: the executor's query, on the same tables."""
        order_id = state["decision"]["steps"][0]["args"]["order_id"]
        # The worker's one connection is the saver's too, and LangGraph hands a step's
        # checkpoint writes to a background thread (pipeline mode) even with durability="sync":
        # the saver's own lock keeps this query off the connection meanwhile.
        with saver.lock:
            row = conn.execute(
                """
                SELECT o.order_id, o.status, o.placed_at::text AS placed_at, o.total_cents, o.currency,
                       s.carrier, s.tracking_number, s.estimated_delivery::text AS estimated_delivery
                FROM commerce.orders o
                LEFT JOIN commerce.shipments s ON s.tenant_id = o.tenant_id AND s.order_id = o.order_id
                WHERE o.tenant_id = %s AND o.order_id = %s
                """,
                (TENANT, order_id),
            ).fetchone()
        if row is None:
            return {"result": {"order_id": order_id, "found": False}}
        cents = row["total_cents"]
        return {"result": {
            "order_id": order_id, "found": True, "status": row["status"], "placed_at": row["placed_at"],
            "total": f"{row['currency']} {cents // 100}.{cents % 100:02d}",
            "carrier": row["carrier"], "tracking_number": row["tracking_number"],
            "estimated_delivery": row["estimated_delivery"],
        }}
    return execute


def verify_result(state: Turn) -> Turn:
    """The result against the tool's output schema."""
    result = state["result"]
    errors = []
    if not isinstance(result.get("order_id"), str):
        errors.append("order_id")
    if not isinstance(result.get("found"), bool):
        errors.append("found")
    if result.get("found"):
        if result.get("status") not in STATUSES:
            errors.append("status")
        for key in ("carrier", "tracking_number", "estimated_delivery"):
            if result.get(key) is not None and not isinstance(result[key], str):
                errors.append(key)
        for key in ("placed_at", "total"):
            if not isinstance(result.get(key), str):
                errors.append(key)
    if errors:
        raise ValueError("result does not match the output schema: " + ", ".join(errors))
    return {"result_verdict": {"valid": True}}


def draft(state: Turn) -> Turn:
    """The pack's answer templates."""
    r = state["result"]
    order_id = r["order_id"]
    if not r["found"]:
        text = f"I couldn't find an order with the number {order_id}. Could you check the number in your confirmation email?"
    elif r["status"] == "shipped":
        text = f"Your order {order_id} has shipped with {r['carrier']}. The tracking number is {r['tracking_number']}"
        text += f", and it should arrive by {r['estimated_delivery']}." if r.get("estimated_delivery") else "."
    elif r["status"] == "delivered":
        by = f" by {r['carrier']}" if r.get("carrier") else ""
        text = f"Your order {order_id} was delivered{by}. If you can't find it, let me know and I'll get a colleague to help."
    elif r["status"] == "processing":
        text = f"Your order {order_id} is being prepared and hasn't shipped yet. You'll get an email with tracking details as soon as it does."
    elif r["status"] == "cancelled":
        text = f"Your order {order_id} was cancelled. If that's unexpected, I can pass you to a colleague."
    else:
        text = f"Your order {order_id} is currently {r['status']}."
    return {"reply": text}


def approve_deliver(state: Turn) -> Turn:
    """The draft's policy check (length, grounded in the result), then delivered."""
    reply = state["reply"]
    if len(reply) > MAX_REPLY_CHARACTERS or state["result"]["order_id"] not in reply:
        raise ValueError("draft rejected")
    return {"status": "replied"}


def build_graph(conn: Connection):
    # Its own saver per connection: PostgresSaver serialises every call on one lock.
    saver = PostgresSaver(conn)
    graph = StateGraph(Turn)
    steps = [("receive", receive), ("decide", decide), ("verify_step", verify_step),
             ("execute", make_execute(conn, saver)), ("verify_result", verify_result),
             ("draft", draft), ("approve_deliver", approve_deliver)]
    for name, fn in steps:
        graph.add_node(name, fn)
    graph.add_edge(START, "receive")
    for (a, _), (b, _) in zip(steps, steps[1:]):
        graph.add_edge(a, b)
    graph.add_edge("approve_deliver", END)
    return graph.compile(checkpointer=saver)


def setup(dsn: str) -> None:
    """The commerce demo tables, from the executor's migration and demo-data SQL, and the
    checkpoint tables."""
    with Connection.connect(dsn, autocommit=True, row_factory=dict_row) as conn:
        exists = conn.execute("SELECT to_regclass('commerce.orders') IS NOT NULL AS e").fetchone()["e"]
        if not exists:
            source = (ROOT / "Services/Executor/App/CommerceSchema.swift").read_text()
            migrations = re.findall(r'sql: """\n(.*?)"""', source, re.S)
            demo = re.findall(r'static let demoData = """\n(.*?)"""', source, re.S)
            if len(migrations) < 1 or len(demo) != 1:
                sys.exit("could not read the commerce tables and demo data from CommerceSchema.swift")
            migrations += demo
            with conn.transaction():
                conn.execute("CREATE SCHEMA IF NOT EXISTS commerce")
                conn.execute("SET LOCAL search_path TO commerce")
                for sql in migrations:
                    conn.execute(sql)
        PostgresSaver(conn).setup()


# --- CPU from /proc, as `switchboard bench turns` measures it ---------------------------

CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_stat(pid: int) -> Optional[tuple[str, list[str]]]:
    try:
        text = open(f"/proc/{pid}/stat").read()
    except OSError:
        return None
    # comm may hold spaces and parentheses: the fields start after its last ')'.
    return text[text.index("(") + 1:text.rindex(")")], text[text.rindex(")") + 2:].split()


def postgres_processes(port: int) -> tuple[Optional[int], str]:
    """The postmaster listening on `port` (its command line names it), else None: all clusters."""
    procs = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (stat := proc_stat(int(entry))) and stat[0] == "postgres":
            procs[int(entry)] = int(stat[1][1])
    postmasters = [pid for pid, ppid in procs.items() if ppid not in procs]
    for pid in postmasters:
        try:
            args = open(f"/proc/{pid}/cmdline", "rb").read().decode().split("\0")
        except OSError:
            continue
        for i, arg in enumerate(args):
            nxt = args[i + 1] if i + 1 < len(args) else ""
            if (arg in ("-p", "--port") and nxt == str(port)) or (arg == "-c" and nxt == f"port={port}") \
                    or arg in (f"-p{port}", f"--port={port}"):
                return pid, f"port_{port}"
    return (postmasters[0], f"port_{port}") if len(postmasters) == 1 else (None, "all")


def postgres_cpu_seconds(postmaster: Optional[int]) -> tuple[float, int]:
    """CPU seconds of the postmaster (with its reaped children, so backends that exit keep
    their time) and its live children; or of every postgres process. And how many."""
    total, count = 0, 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or not (stat := proc_stat(int(entry))) or stat[0] != "postgres":
            continue
        pid, fields = int(entry), stat[1]
        # Field n of /proc/pid/stat is fields[n - 3]: ppid 4, utime 14, stime 15, cutime 16, cstime 17.
        if postmaster is None or int(fields[1]) == postmaster:
            total += int(fields[11]) + int(fields[12])
            count += 1
        elif pid == postmaster:
            total += int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])
            count += 1
    return total / CLK_TCK, count


def process_cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


# --- the run ------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", default=os.environ.get("DATABASE_URL"), help="Postgres URL (env DATABASE_URL)")
    parser.add_argument("--count", type=int, default=500, help="turns to run")
    parser.add_argument("--concurrency", type=int, default=8, help="turns in flight (threads, one pooled connection each)")
    parser.add_argument("--warmup", type=int, default=50, help="warm-up turns, not counted")
    args = parser.parse_args()
    if not args.dsn:
        sys.exit("set DATABASE_URL or --dsn")
    if args.count <= 0 or not 1 <= args.concurrency <= 256 or args.warmup < 0:
        sys.exit("count > 0, concurrency 1...256, warmup >= 0")

    setup(args.dsn)
    port = int(conninfo_to_dict(args.dsn).get("port") or 5432)
    postmaster, scope = postgres_processes(port)
    # Settings PostgresSaver.from_conn_string uses.
    pool = ConnectionPool(args.dsn, min_size=args.concurrency, max_size=args.concurrency, open=True,
                          kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row})
    run = uuid.uuid4().hex[:8]
    lock = threading.Lock()

    def run_all(start: int, end: int) -> list[float]:
        latencies: list[float] = []
        next_index = [start]

        def worker() -> None:
            with pool.connection() as conn:
                graph = build_graph(conn)
                while True:
                    with lock:
                        index = next_index[0]
                        if index >= end:
                            return
                        next_index[0] += 1
                    conversation = f"bench-{run}-{index}"
                    # "sync": each step's checkpoint is committed before the next step starts,
                    # as each Switchboard event is acknowledged before the next service acts.
                    started = time.perf_counter()
                    out = graph.invoke(
                        {"conversation_id": conversation, "customer_id": "cus_bench",
                         "text": f"Where is my order {ORDERS[index % len(ORDERS)]}?"},
                        {"configurable": {"thread_id": conversation}}, durability="sync")
                    elapsed = time.perf_counter() - started
                    if out.get("status") != "replied":
                        raise RuntimeError(f"turn {index} ended without a reply: {out}")
                    with lock:
                        latencies.append(elapsed)

        errors: list[BaseException] = []

        def guarded() -> None:
            try:
                worker()
            except BaseException as e:  # noqa: BLE001 - re-raised after the join
                errors.append(e)
                with lock:
                    next_index[0] = end  # the other workers stop at their next turn

        threads = [threading.Thread(target=guarded) for _ in range(min(args.concurrency, end - start))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
        return latencies

    run_all(0, args.warmup)
    cpu_start, pg_start = process_cpu_seconds(), postgres_cpu_seconds(postmaster)[0]
    started = time.perf_counter()
    latencies = sorted(run_all(args.warmup, args.warmup + args.count))
    wall = time.perf_counter() - started
    cpu = process_cpu_seconds() - cpu_start
    pg_end, pg_count = postgres_cpu_seconds(postmaster)
    pg = max(0.0, pg_end - pg_start)

    with pool.connection() as conn:
        checkpoints = conn.execute("SELECT count(*) AS n FROM checkpoints WHERE thread_id LIKE %s",
                                   (f"bench-{run}-%",)).fetchone()["n"]
    pool.close()

    def ms(seconds: float) -> str:
        return f"{seconds * 1000:.1f}"

    def percentile(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(len(latencies) * p))]

    n = args.count
    print(f"cpu_processes python=1 postgres={pg_count} postgres_scope={scope}")
    print(f"turns={n} concurrency={args.concurrency} wall_s={wall:.2f} turns_per_s={n / wall:.1f}")
    print(f"latency_ms p50={ms(percentile(0.50))} p90={ms(percentile(0.90))} p99={ms(percentile(0.99))} max={ms(latencies[-1])}")
    print(f"cpu_ms_per_turn python={cpu * 1000 / n:.1f} postgres={pg * 1000 / n:.1f} "
          f"python_postgres={(cpu + pg) * 1000 / n:.1f}")
    print(f"checkpoints_per_turn={checkpoints / (args.warmup + n):.1f} durability=sync")


if __name__ == "__main__":
    main()
