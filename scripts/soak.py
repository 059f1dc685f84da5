#!/usr/bin/env python3
"""`make soak` (issue 13): the whole platform at a steady rate for a while, watching for leaks.

Starts a throwaway Postgres and `switchboard up` under .run/soak, sends turns at a steady rate
(reads and small refunds, several customers) for SOAK_SECONDS (default 600), and every 10 s
samples each service's resident memory, open file descriptors and the database's connections.
At the end it waits for every group's consumer lag to return to zero, prints each series' first
and last value and its least-squares slope per minute, and exits 1 when the lag does not drain,
a turn failed, or a service died. The slopes are reported, not judged: on a shared machine
memory moves for reasons of its own; read them against docs/BENCHMARKS.md.

    SOAK_SECONDS=600 SOAK_RATE=5 scripts/soak.py
"""
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUN = ROOT / ".run" / "soak"
SERVICES = ["gateway", "planner", "executor", "verifier", "hilqueue"]
SECONDS = int(os.environ.get("SOAK_SECONDS", "600"))
RATE = float(os.environ.get("SOAK_RATE", "5"))
PG_PORT = os.environ.get("SOAK_PG_PORT", "55480")
BASE_PORT = int(os.environ.get("SOAK_BASE_PORT", "18380"))
BIN = Path(os.environ.get("SWITCHBOARD_BIN_DIR") or subprocess.check_output(
    ["swift", "build", "--show-bin-path", "--explicit-target-dependency-import-check", "error"], cwd=ROOT, text=True).strip())


def sh(*args, **kwargs):
    return subprocess.run(args, cwd=ROOT, check=True, text=True, capture_output=True, **kwargs).stdout


def http(method, url, token, body=None, timeout=30):
    request = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body is not None else None,
                                     headers={"authorization": f"Bearer {token}", "content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.status, response.read()


def service_pids(parent):
    """The five service processes `switchboard up` (pid `parent`) started."""
    pids = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            exe = os.readlink(entry / "exe")
        except (OSError, IndexError, ValueError):
            continue
        name = os.path.basename(exe).removeprefix("switchboard-")
        if ppid == parent and name in SERVICES:
            pids[name] = int(entry.name)
    return pids


def rss_kib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def slope_per_minute(samples):
    """Least-squares slope of (seconds, value) pairs, per minute."""
    n = len(samples)
    if n < 2:
        return 0.0
    mean_t = sum(t for t, _ in samples) / n
    mean_v = sum(v for _, v in samples) / n
    var = sum((t - mean_t) ** 2 for t, _ in samples)
    return 0.0 if var == 0 else 60 * sum((t - mean_t) * (v - mean_v) for t, v in samples) / var


def lag(env):
    """Every group's consumer lag summed over partitions, from the services' /metrics."""
    total = {}
    for service in SERVICES:
        address = env[f"SWITCHBOARD_{service.upper()}_ADDR"]
        with urllib.request.urlopen(f"http://{address}/metrics", timeout=10) as response:
            text = response.read().decode()
        for match in re.finditer(r'^switchboard_consumer_lag_events\{group="([^"]+)",partition="\d+"\} (\S+)$', text, re.M):
            total[match.group(1)] = total.get(match.group(1), 0) + float(match.group(2))
    return total


def main():
    RUN.mkdir(parents=True, exist_ok=True)
    pg = RUN / "pg"
    database = dict(line.split("=", 1) for line in sh("scripts/postgres.sh", "start", str(pg), PG_PORT).split())
    admin_url = database["DATABASE_URL"]
    sh("psql", admin_url, "-q", "-c", "DROP DATABASE IF EXISTS soak WITH (FORCE)", "-c", "CREATE DATABASE soak")
    url = admin_url.rsplit("/", 1)[0] + "/soak"
    up = subprocess.Popen([str(BIN / "switchboard"), "up", "--run-dir", str(RUN / "platform"), "--database-url", url, "--base-port", str(BASE_PORT)],
                          cwd=ROOT, stdin=subprocess.DEVNULL, stdout=open(RUN / "up.log", "w"), stderr=subprocess.STDOUT)
    failures = []
    try:
        env_file = RUN / "platform" / "env"
        deadline = time.time() + 120
        while not (env_file.exists() and len(service_pids(up.pid)) == len(SERVICES)):
            if time.time() > deadline or up.poll() is not None:
                sys.exit("soak: the platform did not start (.run/soak/up.log)")
            time.sleep(0.5)
        env = dict(line.split("=", 1) for line in env_file.read_text().splitlines() if "=" in line)
        token, gateway = env["SWITCHBOARD_TOKEN"], env["GATEWAY_URL"]
        while True:
            try:
                if all(http("GET", f"http://{env[f'SWITCHBOARD_{s.upper()}_ADDR']}/ready", token)[0] == 200 for s in SERVICES):
                    break
            except OSError:
                pass
            time.sleep(0.5)
        pids = service_pids(up.pid)
        series = {f"{s} rss MiB": [] for s in SERVICES} | {f"{s} fds": [] for s in SERVICES} | {"postgres connections": []}
        started = time.time()
        sent = 0
        next_sample = started
        print(f"soak: {SECONDS} s at {RATE} turns/s against {gateway}", flush=True)
        while time.time() - started < SECONDS:
            index = sent
            customer, text = ("cus_1001", "I want a refund of $1 for order DEF456") if index % 50 == 0 and index < 5000 \
                else ("cus_1002", "Where is my order GHI789?")
            try:
                status, _ = http("POST", f"{gateway}/v1/conversations/soak-{index % 400}/messages", token, {"customer_id": customer, "text": text})
                if status not in (200, 202):
                    failures.append(f"turn {index}: HTTP {status}")
            except OSError as error:
                failures.append(f"turn {index}: {error}")
            sent += 1
            now = time.time()
            if now >= next_sample:
                t = now - started
                for service, pid in pids.items():
                    try:
                        series[f"{service} rss MiB"].append((t, rss_kib(pid) / 1024))
                        series[f"{service} fds"].append((t, fds(pid)))
                    except OSError:
                        failures.append(f"{service} (pid {pid}) is gone")
                connections = sh("psql", admin_url, "-tA", "-c", "SELECT count(*) FROM pg_stat_activity WHERE datname = 'soak'")
                series["postgres connections"].append((t, int(connections.strip())))
                next_sample = now + 10
            time.sleep(max(0.0, started + sent / RATE - time.time()))
        # The lag drains once traffic stops.
        drained, deadline = None, time.time() + 120
        while time.time() < deadline:
            groups = lag(env)
            if groups and all(value == 0 for value in groups.values()):
                drained = groups
                break
            time.sleep(2)
        print(f"soak: {sent} turns in {time.time() - started:.0f} s, {len(failures)} failed")
        print(f"{'series':28} {'first':>9} {'last':>9} {'slope/min':>10}")
        for name, samples in series.items():
            if samples:
                print(f"{name:28} {samples[0][1]:9.1f} {samples[-1][1]:9.1f} {slope_per_minute(samples):10.3f}")
        print("consumer lag at the end: " + (", ".join(f"{g} {v:.0f}" for g, v in sorted(drained.items())) if drained else f"NOT drained within 120 s: {lag(env)}"))
        for failure in failures[:20]:
            print("failure: " + failure)
        if failures or drained is None:
            sys.exit(1)
    finally:
        up.send_signal(signal.SIGINT)
        try:
            up.wait(timeout=60)
        except subprocess.TimeoutExpired:
            up.kill()
        sh("scripts/postgres.sh", "stop", str(pg))


if __name__ == "__main__":
    main()
