#!/usr/bin/env python3
"""Checks the monitoring files (deploy/observability): the Prometheus configuration, the alert
rules and the Grafana dashboards against what the services export.

- Every metric a rule, a panel or a dashboard variable names is one the Swift sources export
  (Counter/FloatingPointCounter/Gauge/Meter/Recorder/Timer labels under Shared/ and Services/,
  however the call goes on: `.increment(by:)`, `.record(...)`, a stored metric),
  with the series swift-prometheus' PrometheusMetricsFactory makes of it: counters and gauges
  under their own name, Timers and aggregating Recorders as histograms (`_bucket` with `le`,
  `_sum`, `_count`, no bare name); `up` and the other series Prometheus adds to every scrape.
- Every label a selector or a `by`/`on` clause names is one of the metric's dimensions or a
  target label the scrape configuration sets (a dimension a target label displaces as
  exported_<name>); rate()/increase() only of counters. The values a matcher names (each
  alternative of a regex, for =~ and !~ too) are ones the label takes: the scrape jobs, the
  services, the consumer groups, and what the sources give a dimension: string literals,
  `let x = c ? "a" : "b"`, tuple assignments, the literal arguments of a static helper's callers
  (BreakerMetrics.record(kind: "model", ...)), and for `context.endpointPath ?? "unmatched"` the
  routes the services declare as Hummingbird 2 records them (`:id` becomes `{id}`, an unmatched
  request `NotFound`; checked against .build/checkouts/hummingbird when it is there).
- deploy/README.md's Metrics table has one row per exported metric with its type, its labels
  and, for a metric of one service's folder (or a helper only services call), those services.
- Alerts: `for`, a `severity` label, `summary`/`description`/`runbook` annotations, the runbook
  an anchor of deploy/README.md whose heading is the alert's name (and no runbook for an alert
  that is gone), a promtool unit test in which each alert fires.
- prometheus.yml: the rule files, the Kubernetes job's relabelling run against the pods of
  deploy/k8s/base (each service's pod becomes a target on its port with labels service and pod;
  the topics Job's pod does not), the static job on the default ports of the five services.
- Dashboards: unique uids, schemaVersion 39, a Prometheus `datasource` variable that every
  panel and query uses, panels with targets with expressions, only defined variables.
- With promtool (on PATH, $PROMTOOL or .run/prometheus from scripts/install-test-deps.sh):
  `promtool check rules`, `check config`, `test rules` (alerts.test.yml) and every dashboard
  expression parsed as a rule. Without it, a notice, and the rest still runs.

Every run also runs the self-test: each check against deliberately broken variants (a rule
naming a metric nobody exports, an alert without `for`, ...), which it must reject.

    python3 scripts/check-observability.py              # checks, then the self-test; exit 1 on a failure
    python3 scripts/check-observability.py --self-test  # the self-test only
    PROMTOOL=/path/to/promtool python3 scripts/check-observability.py

Needs PyYAML (this Python's, else .run/kv-venv's from scripts/install-test-deps.sh).
"""

import argparse
import copy
import difflib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import checklib  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OBS = ROOT / "deploy" / "observability"
CONFIG = OBS / "prometheus.yml"
RULES = OBS / "alerts.yml"
RULE_TESTS = OBS / "alerts.test.yml"
DASHBOARDS = OBS / "grafana"
README = ROOT / "deploy" / "README.md"
K8S_BASE = ROOT / "deploy" / "k8s" / "base"
VENV_PYTHON = ROOT / ".run" / "kv-venv" / "bin" / "python"
LOCAL_PROMTOOL = ROOT / ".run" / "prometheus" / "usr" / "bin" / "promtool"

SEVERITIES = {"critical", "warning", "info"}
DURATION = re.compile(r"^(\d+(ms|s|m|h|d|w|y))+$")
METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
# Series Prometheus adds to every scrape target.
SCRAPE_SERIES = {"up": "gauge", "scrape_duration_seconds": "gauge", "scrape_samples_scraped": "gauge",
                 "scrape_samples_post_metric_relabeling": "gauge", "scrape_series_added": "gauge"}
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
AGGREGATORS = {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk", "quantile"}
FUNCTIONS = {
    "abs", "absent", "absent_over_time", "acos", "acosh", "asin", "asinh", "atan", "atanh", "avg_over_time", "ceil", "changes",
    "clamp", "clamp_max", "clamp_min", "cos", "cosh", "count_over_time", "day_of_month", "day_of_week", "day_of_year",
    "days_in_month", "deg", "delta", "deriv", "exp", "floor", "histogram_count", "histogram_fraction", "histogram_quantile",
    "histogram_sum", "holt_winters", "hour", "idelta", "increase", "irate", "label_join", "label_replace",
    "last_over_time", "ln", "log10", "log2", "max_over_time", "min_over_time", "minute", "month", "pi", "predict_linear",
    "present_over_time", "quantile_over_time", "rad", "rate", "resets", "round", "scalar", "sgn", "sin", "sinh", "sort",
    "sort_desc", "sqrt", "stddev_over_time", "stdvar_over_time", "sum_over_time", "tan", "tanh", "time", "timestamp",
    "vector", "year",
}
COUNTER_FUNCTIONS = {"rate", "irate", "increase", "resets"}
GROUPING = {"by", "without", "on", "ignoring", "group_left", "group_right"}
BINARY_KEYWORDS = {"and", "or", "unless", "bool", "atan2"}
GRAFANA_BUILTINS = {"__rate_interval", "__interval", "__interval_ms", "__range", "__range_s", "__range_ms", "__from", "__to",
                    "__dashboard", "__org", "__user", "__name", "timeFilter"}
SEVERITY_NOTE = "critical, warning or info"


def ensure_dependencies():
    checklib.ensure_modules(["yaml"], "check-observability: PyYAML is missing: run scripts/install-test-deps.sh observability")


# ------------------------------------------------------------------------------------------
# Facts from the sources.

class Metric:
    def __init__(self, name, kind, labels, path, line):
        self.name, self.kind, self.labels, self.places = name, kind, labels, [(path, line)]
        # {label: values the sources give it, or None when one is computed}
        self.values = {}
        # Where a helper that makes the metric is called from ((path, line)), when it is one.
        self.callers = []

    def add_values(self, values):
        for label, found in values.items():
            if found is None or (label in self.values and self.values[label] is None):
                self.values[label] = None
            else:
                self.values[label] = self.values.get(label, set()) | found

    @property
    def prom_type(self):
        return {"Counter": "counter", "FloatingPointCounter": "counter", "Gauge": "gauge", "Meter": "gauge",
                "GaugeRecorder": "gauge", "Recorder": "histogram", "Timer": "histogram"}[self.kind]

    def series(self):
        """{series name: (prometheus type of the series, labels or None when unknown)}"""
        if self.prom_type == "histogram":
            labels = None if self.labels is None else self.labels | {"le"}
            return {self.name + "_bucket": ("counter", labels), self.name + "_sum": ("counter", self.labels),
                    self.name + "_count": ("counter", self.labels)}
        return {self.name: (self.prom_type, self.labels)}

    def where(self):
        folders = sorted({"/".join(Path(p).parts[:2]) for p, _ in self.places})
        return ", ".join(folders)


def call_arguments(text, start):
    """The text of a call's arguments from `start` (just after its opening parenthesis)."""
    depth, i, in_string = 1, start, False
    while i < len(text) and depth:
        c = text[i]
        if in_string:
            if c == "\\":
                i += 1
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        i += 1
    return text[start:i - 1]


def matching(text, start, opening, closing):
    """The index just after the bracket that closes the one at `start` (strings skipped)."""
    depth, i, in_string = 0, start, False
    while i < len(text):
        c = text[i]
        if in_string:
            if c == "\\":
                i += 1
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        elif c == opening:
            depth += 1
        elif c == closing:
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return len(text)


def split_top(text, separator=","):
    """`text` split at the separators outside brackets and strings."""
    parts, depth, current, in_string, i = [], 0, [], False, 0
    while i < len(text):
        c = text[i]
        if in_string:
            current.append(c)
            if c == "\\" and i + 1 < len(text):
                current.append(text[i + 1])
                i += 1
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
            current.append(c)
        elif c in "([{":
            depth += 1
            current.append(c)
        elif c in ")]}":
            depth -= 1
            current.append(c)
        elif c == separator and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(c)
        i += 1
    if "".join(current).strip():
        parts.append("".join(current).strip())
    return parts


STRING_LITERAL = re.compile(r'"((?:[^"\\]|\\[^(])*)"')


def literal(expr):
    """The value of a plain Swift string literal (no interpolation), else None."""
    m = STRING_LITERAL.fullmatch(expr.strip())
    return m.group(1) if m else None


def hummingbird_route(path):
    """The `endpointPath` Hummingbird 2 records for a route declared as `path` (RouterPath's
    description): `/` and the components, a `:name` capture written `{name}`."""
    parts = [p for p in path.split("/") if p]
    return "/" + "/".join("{" + p[1:] + "}" if p.startswith(":") else p for p in parts)


# Routes as the services declare them (SecuredRoutes' get/post/put/delete/open, Router's
# get/post/.../on, the observability routes), with a literal path.
ROUTE_DECLARATION = re.compile(r'(?<![\w.])(?:[A-Za-z_]\w*\.)?(get|post|put|patch|delete|head|open|on)\(\s*(?:RouterPath\(\s*)?"(/[^"\\]*)"')
HTTP_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "CONNECT", "TRACE"}
HUMMINGBIRD_ROUTER = ROOT / ".build" / "checkouts" / "hummingbird" / "Sources" / "Hummingbird" / "Router"


class Facts:
    CONSTRUCTOR = re.compile(r"\b(Counter|FloatingPointCounter|Gauge|Recorder|Timer|Meter)\(\s*label:\s*")

    def __init__(self):
        read = lambda p: (ROOT / p).read_text()
        devstack = read("Shared/DevStack/DevStack.swift")
        m = re.search(r"static let services = \[([^\]]*)\]", devstack)
        self.services = re.findall(r'"([a-z]+)"', m.group(1)) if m else []
        config = read("Shared/ServiceRuntime/ServiceConfig.swift")
        self.ports = {name: int(port) for name, port in re.findall(r"static let (\w+) = (\d{4,5})\b", config)}
        host = read("Shared/ServiceHost/ServiceHost.swift")
        m = re.search(r'groupID: String \{ "([^"\\]*)\\\(config\.serviceName\)" \}', host)
        self.groups = {f"{m.group(1)}{s}" for s in self.services} if m else set()
        self.metrics, self.computed, self.factory_notes = {}, [], []
        self.bootstrap = None
        self.sources = {}
        for folder in ("Shared", "Services"):
            for path in sorted((ROOT / folder).rglob("*.swift")):
                self.sources[str(path.relative_to(ROOT))] = path.read_text()
        self.routes = self.read_routes()
        for rel, text in self.sources.items():
            if "MetricsSystem.bootstrap(" in text:
                self.bootstrap = (rel, text)
            for m in self.CONSTRUCTOR.finditer(text):
                line = text.count("\n", 0, m.start()) + 1
                kind = m.group(1)
                if text[m.end():m.end() + 1] != '"':
                    self.computed.append(f"{rel}:{line}")
                    continue
                args = call_arguments(text, text.index("(", m.start()) + 1)
                name = re.match(r'\s*label:\s*"([^"]*)"', args).group(1)
                labels, values = set(), {}
                dims = re.search(r"dimensions:\s*(\[)?", args)
                if dims and dims.group(1):
                    body = args[dims.end() - 1:matching(args, dims.end() - 1, "[", "]")][1:-1]
                    for pair in split_top(body):
                        if not (pair.startswith("(") and pair.endswith(")")):
                            labels = None  # not a list of (name, value) pairs
                            break
                        fields = split_top(pair[1:-1])
                        label = literal(fields[0]) if len(fields) == 2 else None
                        if label is None:
                            labels = None
                            break
                        labels.add(label)
                        values[label] = self.values_of(fields[1], text, m.start())
                elif dims:
                    labels = None  # computed dimensions: label names unknown
                if kind == "Recorder" and re.search(r"aggregate:\s*false", args):
                    kind = "GaugeRecorder"
                if name in self.metrics:
                    known = self.metrics[name]
                    known.places.append((rel, line))
                    if known.kind != kind:
                        self.factory_notes.append(f"{name} is made as {known.kind} and as {kind} ({rel}:{line})")
                    if known.labels is not None and labels is not None and known.labels != labels:
                        self.factory_notes.append(f"{name} is made with labels {sorted(known.labels)} and {sorted(labels)} ({rel}:{line}): "
                                                  "one metric family needs one set of label names")
                    if known.labels is not None and labels is not None:
                        known.labels |= labels
                else:
                    known = self.metrics[name] = Metric(name, kind, labels, rel, line)
                helper = self.helper_calls(text, m.start())
                if helper is not None:
                    known.callers += helper[0]
                    values.update({label: found for label, found in helper[1].items() if label in values})
                known.add_values(values if labels is not None else {})
        self.series = {}
        for metric in self.metrics.values():
            for series, (kind, labels) in metric.series().items():
                self.series[series] = (kind, labels, metric)
        self.readme = README.read_text()

    # -- what the sources give a label

    def values_of(self, expr, text, at):
        """The values a dimension's value expression can take: a set of strings, or None when
        it is computed. Understood: a string literal; a local `let x = a ? "b" : "c"`; a
        tuple assignment `(x, ...) = ("lit", ...)` (each one in the function); a local
        `let x = context.endpointPath ?? "fallback"` (the routes' patterns, Hummingbird's
        `NotFound`, the fallback); a parameter of a static helper (filled in from its calls)."""
        expr = expr.strip()
        value = literal(expr)
        if value is not None:
            return {value}
        if not re.fullmatch(r"[A-Za-z_]\w*", expr):
            return None
        scope = self.enclosing_function(text, at)
        body = text[scope[0]:at] if scope else text[:at]
        lets = list(re.finditer(r"\blet\s+" + expr + r"\s*=\s*([^\n]+)", body))
        if lets:
            rhs = lets[-1].group(1).strip()
            m = re.fullmatch(r"context\.endpointPath\s*\?\?\s*(\"[^\"]*\")", rhs)
            if m:
                return set(self.routes) | {"NotFound", literal(m.group(1))}
            m = re.fullmatch(r".+\?\s*(\"[^\"]*\")\s*:\s*(\"[^\"]*\")", rhs)
            if m:
                return {literal(m.group(1)), literal(m.group(2))}
            return None
        found, seen = set(), False
        for m in re.finditer(r"\(([\w\s,]+)\)\s*=\s*\(", body):
            names = [n.strip() for n in m.group(1).split(",")]
            if expr not in names:
                continue
            start = m.end() - 1
            fields = split_top(body[start + 1:matching(body, start, "(", ")") - 1])
            if len(fields) != len(names):
                return None
            value = literal(fields[names.index(expr)])
            if value is None:
                return None
            found.add(value)
            seen = True
        if seen:
            return found
        return None  # a parameter (a helper's: helper_calls) or something computed

    @staticmethod
    def enclosing_function(text, at):
        """(start of its signature, end of its body) of the innermost func or init around `at`."""
        best = None
        for m in re.finditer(r"\b(?:func\s+\w+|init)\s*\(", text[:at]):
            paren = m.end() - 1
            after = matching(text, paren, "(", ")")
            brace = text.find("{", after)
            if brace < 0 or brace > at:
                continue
            end = matching(text, brace, "{", "}")
            if end > at:
                best = (m.start(), end)
        return best

    def helper_calls(self, text, at):
        """For a metric made in a static helper (`static func record(kind: String, ...)` in
        `enum BreakerMetrics`): the places that call `BreakerMetrics.record(` and the values
        their literal arguments give the helper's parameters, by the dimension they feed."""
        scope = self.enclosing_function(text, at)
        if scope is None:
            return None
        signature = re.match(r"func\s+(\w+)\s*\(", text[scope[0]:])
        if not signature or not re.search(r"\bstatic\s+(?:public\s+|internal\s+)?$|\bstatic\s+$", text[max(0, scope[0] - 40):scope[0]]):
            return None
        owner = None
        for m in re.finditer(r"\b(?:enum|struct|class|actor|extension)\s+(\w+)", text[:scope[0]]):
            owner = m.group(1)
        if owner is None:
            return None
        name = signature.group(1)
        paren = scope[0] + signature.end() - 1
        parameters = {}
        for param in split_top(text[paren + 1:matching(text, paren, "(", ")") - 1]):
            m = re.match(r"(\w+)(?:\s+(\w+))?\s*:", param)
            if m:
                parameters[m.group(2) or m.group(1)] = m.group(1)  # internal name -> argument label
        # Which dimension each parameter feeds.
        call = text[at:matching(text, text.index("(", at), "(", ")")]
        feeds = {}
        for label, internal in re.findall(r'\(\s*"([^"]+)"\s*,\s*(\w+)\s*\)', call):
            if internal in parameters:
                feeds[label] = parameters[internal]
        callers, values = [], {label: set() for label in feeds}
        pattern = re.compile(r"\b" + re.escape(owner) + r"\." + re.escape(name) + r"\(")
        for rel, source in self.sources.items():
            for m in pattern.finditer(source):
                callers.append((rel, source.count("\n", 0, m.start()) + 1))
                arguments = {}
                for argument in split_top(call_arguments(source, m.end())):
                    am = re.match(r"(\w+)\s*:\s*(.*)", argument, re.S)
                    if am:
                        arguments[am.group(1)] = am.group(2)
                for label, argument_label in feeds.items():
                    value = literal(arguments.get(argument_label, ""))
                    if values[label] is not None:
                        values[label] = None if value is None else values[label] | {value}
        if not callers:
            return None
        return callers, values

    def read_routes(self):
        """The route patterns Hummingbird records in `endpointPath` ({pattern: [(path, line)]})."""
        routes = {}
        for rel, text in self.sources.items():
            for m in ROUTE_DECLARATION.finditer(text):
                routes.setdefault(hummingbird_route(m.group(2)), []).append((rel, text.count("\n", 0, m.start()) + 1))
        notes = []
        path_file = HUMMINGBIRD_ROUTER / "RouterPath.swift"
        router_file = HUMMINGBIRD_ROUTER / "Router.swift"
        if path_file.exists() and 'return "{\\(parameter)}"' not in path_file.read_text():
            notes.append(f"{path_file.relative_to(ROOT)}: RouterPath no longer describes a capture as {{name}}; teach hummingbird_route() the new form")
        if router_file.exists() and 'endpointPath.value = "NotFound"' not in router_file.read_text():
            notes.append(f"{router_file.relative_to(ROOT)}: unmatched requests are no longer recorded as endpointPath NotFound; update values_of()")
        self.route_notes = notes
        return routes

    def service_of(self, metric):
        """Which services export a metric: the service folder, or every service for Shared code;
        for a metric a Shared helper makes, the folders of its callers."""
        names = set()
        for path, _ in metric.callers or metric.places:
            parts = Path(path).parts
            if parts[0] == "Services" and parts[1].lower() in self.services:
                names.add(parts[1].lower())
            elif parts[0] == "Shared":
                names.add(f"every service using Shared/{parts[1]}")
        return ", ".join(sorted(names))


# ------------------------------------------------------------------------------------------
# PromQL: a tokenizer and a walk that finds selectors, labels, functions and variables.

class PromQLError(Exception):
    pass


TOKEN = re.compile(r"""
  (?P<ws>\s+)
| (?P<comment>\#[^\n]*)
| (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
| (?P<var>\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*|\[\[[A-Za-z0-9_:.]+\]\])
| (?P<duration>(?:\d+(?:ms|s|m|h|d|w|y))+(?![A-Za-z0-9_:]))
| (?P<number>0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
| (?P<ident>[A-Za-z_][A-Za-z0-9_:]*)
| (?P<op>=~|!~|!=|==|>=|<=|[-+*/%^<>=,(){}@\[\]])
""", re.X)
VAR_NAME = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)[^}]*\}|\$([A-Za-z_][A-Za-z0-9_]*)|\[\[([A-Za-z0-9_]+)")


class Token:
    def __init__(self, kind, text):
        self.kind, self.text = kind, text

    def is_op(self, text):
        return self.kind == "op" and self.text == text


def tokenize(expr):
    tokens, i = [], 0
    while i < len(expr):
        if expr[i] == "[" and not expr.startswith("[[", i):
            # A range or subquery: durations, Grafana variables, a colon; nothing to check inside.
            end = expr.find("]", i)
            if end < 0:
                raise PromQLError(f"unclosed '[' at {i}")
            inside = expr[i + 1:end]
            if not re.fullmatch(r"\s*[\w$:{}.\s-]+\s*", inside):
                raise PromQLError(f"not a range or subquery: [{inside}]")
            tokens.append(Token("range", inside))
            i = end + 1
            continue
        m = TOKEN.match(expr, i)
        if not m:
            raise PromQLError(f"unexpected character {expr[i]!r} at {i}")
        kind = m.lastgroup
        if kind not in ("ws", "comment"):
            tokens.append(Token(kind, m.group()))
        i = m.end()
    depth = {"(": 0, "{": 0}
    pairs = {")": "(", "}": "{"}
    for t in tokens:
        if t.kind == "op" and t.text in depth:
            depth[t.text] += 1
        elif t.kind == "op" and t.text in pairs:
            depth[pairs[t.text]] -= 1
            if depth[pairs[t.text]] < 0:
                raise PromQLError(f"unbalanced '{t.text}'")
    if any(depth.values()):
        raise PromQLError("unbalanced parentheses or braces")
    return tokens


def unquote(text):
    return text[1:-1]


def variables_in(text):
    """Grafana variables ($name, ${name}, ${name:fmt}, [[name]]); label_replace's $1 is not one."""
    return {next(g for g in m.groups() if g) for m in VAR_NAME.finditer(text)}


class Selector:
    def __init__(self, name, matchers, function):
        self.name, self.matchers, self.function = name, matchers, function


class Analysis:
    def __init__(self, expr):
        self.expr = expr
        self.selectors, self.groupings, self.functions = [], [], []
        self.variables = variables_in(expr)
        self.produced = set()
        self.grouping_depths = []  # the parenthesis depth of each entry of groupings


def analyse(expr):
    """Selectors (metric name, matchers, enclosing function), grouping labels, functions."""
    a = Analysis(expr)
    tokens = tokenize(expr)
    stack, pending, i = [], None, 0

    def parse_matchers(j):
        matchers = []
        j += 1
        while j < len(tokens) and not tokens[j].is_op("}"):
            if tokens[j].is_op(","):
                j += 1
                continue
            if j + 2 >= len(tokens):
                raise PromQLError("unfinished label matcher")
            label, op, value = tokens[j], tokens[j + 1], tokens[j + 2]
            if label.kind not in ("ident", "string") or op.kind != "op" or op.text not in ("=", "!=", "=~", "!~") or value.kind not in ("string", "var"):
                raise PromQLError(f"bad label matcher near {label.text}{op.text}{value.text}")
            name = unquote(label.text) if label.kind == "string" else label.text
            text = unquote(value.text) if value.kind == "string" else value.text
            matchers.append((name, op.text, text, bool(variables_in(text)) or value.kind == "var"))
            j += 3
        return matchers, j + 1

    while i < len(tokens):
        t = tokens[i]
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        if t.kind == "ident":
            low = t.text.lower()
            if low in GROUPING:
                if nxt is not None and nxt.is_op("("):
                    j = i + 2
                    while j < len(tokens) and not tokens[j].is_op(")"):
                        if tokens[j].kind in ("ident", "string"):
                            a.groupings.append((low, unquote(tokens[j].text) if tokens[j].kind == "string" else tokens[j].text))
                            a.grouping_depths.append(len(stack))
                        elif not tokens[j].is_op(","):
                            raise PromQLError(f"unexpected {tokens[j].text!r} in {low}(...)")
                        j += 1
                    i = j + 1
                else:
                    i += 1
                continue
            if low in BINARY_KEYWORDS or low in ("inf", "nan"):
                i += 1
                continue
            if low == "offset":
                i += 2 if nxt is not None and not nxt.is_op("-") else 3
                continue
            if low in AGGREGATORS and nxt is not None and (nxt.is_op("(") or (nxt.kind == "ident" and nxt.text.lower() in ("by", "without"))):
                a.functions.append(low)
                pending = low
                i += 1
                continue
            if nxt is not None and nxt.is_op("("):
                if t.text not in FUNCTIONS:
                    raise PromQLError(f"unknown function {t.text}()")
                a.functions.append(t.text)
                pending = t.text
                i += 1
                continue
            matchers = []
            j = i + 1
            if nxt is not None and nxt.is_op("{"):
                matchers, j = parse_matchers(i + 1)
            a.selectors.append(Selector(t.text, matchers, stack[-1] if stack else None))
            i = j
            continue
        if t.is_op("{"):
            matchers, j = parse_matchers(i)
            names = [v for label, op, v, _ in matchers if label == "__name__" and op == "="]
            if not names:
                raise PromQLError("a selector without a metric name")
            a.selectors.append(Selector(names[0], matchers, stack[-1] if stack else None))
            i = j
            continue
        if t.is_op("("):
            stack.append(pending)
            pending = None
        elif t.is_op(")"):
            stack.pop()
        elif t.kind == "string" and stack and stack[-1] in ("label_replace", "label_join", "count_values"):
            value = unquote(t.text)
            if LABEL_NAME.match(value):
                a.produced.add(value)
        elif t.is_op("@"):
            i += 2
            if i < len(tokens) and tokens[i].is_op("("):
                i += 2
            continue
        i += 1
    return a


def concrete(expr):
    """A dashboard expression with its Grafana variables replaced, for promtool."""
    expr = re.sub(r"\[[^\]]*\$[^\]]*\]", "[5m]", expr)
    out, i = [], 0
    for m in re.finditer(r"\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'", expr):
        out.append(VAR_NAME.sub("1", expr[i:m.start()]))
        out.append(VAR_NAME.sub(".*", m.group()))
        i = m.end()
    out.append(VAR_NAME.sub("1", expr[i:]))
    return "".join(out)


# ------------------------------------------------------------------------------------------
# The files.

def load_yaml(path):
    import yaml
    return yaml.safe_load(path.read_text())


class Context:
    def __init__(self, facts, config, rules, rule_tests, dashboards, readme, manifests):
        self.facts, self.config, self.rules, self.rule_tests = facts, config, rules, rule_tests
        self.dashboards, self.readme, self.manifests = dashboards, readme, manifests
        self.pristine = True  # the files as they are (promtool reads them in place)

    def variant(self, **changes):
        ctx = Context(self.facts, copy.deepcopy(self.config), copy.deepcopy(self.rules), copy.deepcopy(self.rule_tests),
                      copy.deepcopy(self.dashboards), self.readme, self.manifests)
        ctx.pristine = False
        for key, value in changes.items():
            setattr(ctx, key, value)
        return ctx

    # What the files say.
    def rule_list(self):
        for group in (self.rules or {}).get("groups") or []:
            for rule in group.get("rules") or []:
                yield group.get("name"), rule

    def alerts(self):
        return [rule for _, rule in self.rule_list() if "alert" in rule]

    def jobs(self):
        return [job.get("job_name") for job in (self.config or {}).get("scrape_configs") or []]

    def target_labels(self):
        labels = {"job", "instance"}
        for job in (self.config or {}).get("scrape_configs") or []:
            for rc in job.get("relabel_configs") or []:
                target = rc.get("target_label")
                if target and not target.startswith("__"):
                    labels.add(target)
            for sc in job.get("static_configs") or []:
                labels |= set((sc.get("labels") or {}).keys())
        return labels

    def recorded(self):
        return {rule["record"] for _, rule in self.rule_list() if "record" in rule}

    def expressions(self):
        """(where, expression, variables defined where it lives or None for rules)"""
        out = []
        for group, rule in self.rule_list():
            name = rule.get("alert") or rule.get("record")
            out.append((f"{RULES.name}: {name}", str(rule.get("expr", "")), None))
        for path, board in self.dashboards:
            defined = {v.get("name") for v in (board.get("templating") or {}).get("list") or []}
            for panel in panels_of(board):
                for target in panel.get("targets") or []:
                    if isinstance(target, dict) and target.get("expr"):
                        out.append((f"{path.name}: panel {panel.get('id')} '{panel.get('title')}' {target.get('refId')}", target["expr"], defined))
            for var in (board.get("templating") or {}).get("list") or []:
                if var.get("type") == "query":
                    query = var.get("query")
                    query = query.get("query") if isinstance(query, dict) else query
                    inner = variable_query_expr(str(query or ""))
                    if inner is not None:
                        out.append((f"{path.name}: variable {var.get('name')}", inner, defined))
        return out


def panels_of(board):
    for panel in board.get("panels") or []:
        yield panel
        for nested in panel.get("panels") or []:
            yield nested


def variable_query_expr(query):
    """The PromQL inside a Grafana Prometheus variable query (label_values(expr, label) ...)."""
    m = re.fullmatch(r"\s*label_values\((.*),\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*", query, re.S)
    if m:
        return m.group(1)
    m = re.fullmatch(r"\s*query_result\((.*)\)\s*", query, re.S)
    if m:
        return m.group(1)
    if re.fullmatch(r"\s*(label_values\(\s*[A-Za-z_]\w*\s*\)|label_names\(\)|metrics\(.*\))\s*", query):
        return None
    return query


def variable_query_label(query):
    m = re.fullmatch(r"\s*label_values\((.*),\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*", query, re.S)
    return m.group(2) if m else None


def github_anchors(markdown):
    """Heading text by GitHub's anchor for it, and the sections' bodies."""
    anchors, seen, bodies = {}, {}, {}
    lines = markdown.split("\n")
    in_code = False
    current = None
    for line in lines:
        if line.startswith("```"):
            in_code = not in_code
        m = None if in_code else re.match(r"^(#{1,6})\s+(.*?)\s*#*\s*$", line)
        if m:
            text = m.group(2)
            slug = re.sub(r"[^\w\- ]", "", re.sub(r"`", "", text).lower()).replace(" ", "-")
            n = seen.get(slug, 0)
            seen[slug] = n + 1
            anchor = slug if n == 0 else f"{slug}-{n}"
            anchors[anchor] = (len(m.group(1)), text)
            current = anchor
            bodies[anchor] = []
        elif current:
            bodies[current].append(line)
    return anchors, {k: "\n".join(v).strip() for k, v in bodies.items()}


def monitoring_alert_headings(markdown):
    """Headings under '## Monitoring' > '### Alerts' (each one an alert's runbook)."""
    out, section, sub = [], None, None
    in_code = False
    for line in markdown.split("\n"):
        if line.startswith("```"):
            in_code = not in_code
        if in_code:
            continue
        m = re.match(r"^(#{2,4})\s+(.*?)\s*$", line)
        if not m:
            continue
        level, text = len(m.group(1)), m.group(2)
        if level == 2:
            section, sub = text, None
        elif level == 3:
            sub = text
        elif level == 4 and section == "Monitoring" and sub == "Alerts":
            out.append(text)
    return out


# ------------------------------------------------------------------------------------------
# Checks: each returns (problems, summary).

def series_problem(ctx, name):
    """Why a series name is not one the services export (None when it is)."""
    facts = ctx.facts
    if name in facts.series or name in SCRAPE_SERIES or name in ctx.recorded():
        return None
    metric = facts.metrics.get(name)
    if metric is not None and metric.prom_type == "histogram":
        return f"{name} is a histogram ({metric.kind} in {metric.places[0][0]}): swift-prometheus exports {name}_bucket, {name}_sum and {name}_count, no {name}"
    for suffix in HISTOGRAM_SUFFIXES:
        base = name[: -len(suffix)] if name.endswith(suffix) else None
        if base and base in facts.metrics:
            return f"{name}: {base} is a {facts.metrics[base].prom_type} ({facts.metrics[base].kind}), it has no {suffix} series"
    close = difflib.get_close_matches(name, list(facts.series) + list(SCRAPE_SERIES), n=1, cutoff=0.75)
    return f"{name} is exported by no Swift source (metric labels under Shared/ and Services/)" + (f"; did you mean {close[0]}?" if close else "")


def analysed(ctx):
    """(where, expression, analysis or PromQLError, defined variables)"""
    out = []
    for where, expr, defined in ctx.expressions():
        try:
            out.append((where, expr, analyse(expr), defined))
        except PromQLError as error:
            out.append((where, expr, error, defined))
    return out


def check_metric_names(ctx):
    problems, used, count = [], set(), 0
    for where, expr, a, _ in analysed(ctx):
        count += 1
        if isinstance(a, PromQLError):
            problems.append(f"{where}: cannot parse `{expr.strip()}`: {a}")
            continue
        if not a.selectors:
            problems.append(f"{where}: names no metric")
        for s in a.selectors:
            why = series_problem(ctx, s.name)
            if why:
                problems.append(f"{where}: {why}")
            else:
                used.add(s.name)
            kind = (ctx.facts.series.get(s.name) or (SCRAPE_SERIES.get(s.name),))[0]
            if s.function in COUNTER_FUNCTIONS and kind == "gauge":
                problems.append(f"{where}: {s.function}() of {s.name}, a gauge (only counters have a rate)")
    exported = {m.name for m in ctx.facts.metrics.values()}
    covered = {ctx.facts.series[s][2].name for s in used if s in ctx.facts.series}
    return problems, (f"{count} expressions name {len(used)} series, all exported; "
                      f"{len(covered)} of the {len(exported)} exported metrics are used"
                      + (f" (unused: {', '.join(sorted(exported - covered))})" if exported - covered else ""))


def known_values(ctx, label, metric=None):
    """The values a label can have: the scrape jobs, the services, the consumer groups, or
    what the sources give the metric's dimension (None: unknown, anything goes)."""
    if label == "job":
        return set(ctx.jobs())
    if label == "service":
        return set(ctx.facts.services)
    if label == "group":
        return ctx.facts.groups
    if metric is not None:
        return metric.values.get(label)
    return None


def alternatives(regex):
    """A regex's top-level alternatives (`a|b|c`), or the regex itself."""
    parts, depth, current, escaped = [], 0, [], False
    for c in regex:
        if escaped:
            current.append(c)
            escaped = False
            continue
        if c == "\\":
            escaped = True
        elif c in "([":
            depth += 1
        elif c in ")]":
            depth -= 1
        elif c == "|" and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(c)
    parts.append("".join(current))
    return parts


def listed(values, limit=8):
    values = sorted(values)
    return ", ".join(values) if len(values) <= limit else ", ".join(values[:limit]) + f", ... ({len(values)} in all)"


def value_problem(label, op, value, values):
    """Why a matcher's value can match nothing the label takes (None when it can)."""
    try:
        if op in ("=", "!="):
            if value in values:
                return None
            verb = "matches" if op == "=" else "excludes"
            close = difflib.get_close_matches(value, sorted(values), n=1, cutoff=0.6)
            return f'{label}{op}"{value}" {verb} none of its values ({listed(values)})' + (f"; did you mean {close[0]}?" if close else "")
        for alternative in alternatives(value):
            if not any(re.fullmatch(alternative, v) for v in values):
                verb = "matches" if op == "=~" else "excludes"
                close = difflib.get_close_matches(alternative, sorted(values), n=1, cutoff=0.6)
                return (f'{label}{op}"{value}": the alternative "{alternative}" {verb} none of its values ({listed(values)})'
                        + (f"; did you mean {close[0]}?" if close else ""))
    except re.error as error:
        return f'{label}{op}"{value}" is not a regular expression: {error}'
    return None


def check_label_names(ctx):
    problems, checked = [], 0
    targets = ctx.target_labels()
    for where, expr, a, _ in analysed(ctx):
        if isinstance(a, PromQLError):
            continue  # reported by check_metric_names
        available = set(targets) | a.produced
        unknown_labels = False
        for s in a.selectors:
            entry = ctx.facts.series.get(s.name)
            labels = entry[1] if entry else (set() if s.name in SCRAPE_SERIES else None)
            if labels is None:
                unknown_labels = True
                continue
            # A label of the metric's own that a target label also sets is kept as exported_<name>.
            labels = labels | {f"exported_{label}" for label in labels & targets}
            available |= labels
            metric = entry[2] if entry else None
            for label, op, value, is_var in s.matchers:
                checked += 1
                if label != "__name__" and label not in labels and label not in targets:
                    problems.append(f"{where}: {s.name} has no label '{label}' (its labels: {', '.join(sorted(labels)) or 'none'}; target labels: {', '.join(sorted(targets))})")
                values = known_values(ctx, label, metric)
                if values and not is_var:
                    why = value_problem(label, op, value, values)
                    if why:
                        problems.append(f"{where}: {s.name}: {why}")
        if unknown_labels:
            continue
        for kind, label in a.groupings:
            checked += 1
            if label not in available:
                problems.append(f"{where}: {kind} ({label}): no metric of the expression has the label '{label}'")
    # Variable queries: label_values(expr, label) needs the label on the metric.
    for path, board in ctx.dashboards:
        for var in (board.get("templating") or {}).get("list") or []:
            query = var.get("query")
            query = query.get("query") if isinstance(query, dict) else query
            label = variable_query_label(str(query or ""))
            if not label:
                continue
            try:
                a = analyse(variable_query_expr(query))
            except PromQLError:
                continue
            have = set(targets)
            for s in a.selectors:
                entry = ctx.facts.series.get(s.name)
                have |= (entry[1] or set()) if entry else set()
            checked += 1
            if label not in have:
                problems.append(f"{path.name}: variable {var.get('name')}: label_values(..., {label}): the metric has no label '{label}'")
    return problems, (f"{checked} label names and values in selectors, by/on clauses and variables exist (target labels: {', '.join(sorted(targets))}; "
                      f"values checked against the jobs, services, consumer groups and what the sources give a dimension, e.g. {len(ctx.facts.routes)} route patterns)")


def rule_result_labels(a, targets, facts):
    """Labels an alert's result can carry: the outermost aggregation's `by` (the least nested;
    `a > x and b` keeps a's), else every by/on label, else the selectors' and targets'."""
    if a.groupings and not any(kind == "without" for kind, _ in a.groupings):
        depths = [d for (kind, _), d in zip(a.groupings, a.grouping_depths) if kind == "by"]
        if depths:
            return {label for (kind, label), d in zip(a.groupings, a.grouping_depths) if kind == "by" and d == min(depths)}
    by = {label for kind, label in a.groupings if kind in ("by", "on", "group_left", "group_right")}
    if by:
        return by
    labels = set(targets)
    for s in a.selectors:
        entry = facts.series.get(s.name)
        labels |= (entry[1] or set()) if entry else set()
    return labels


def check_alert_rules(ctx):
    problems = []
    rules = ctx.rules
    if not isinstance(rules, dict) or not rules.get("groups"):
        return [f"{RULES.name}: no rule groups"], ""
    names, group_names = set(), set()
    targets = ctx.target_labels()
    for group in rules["groups"]:
        if group.get("name") in group_names:
            problems.append(f"group {group.get('name')}: twice")
        group_names.add(group.get("name"))
        if not group.get("rules"):
            problems.append(f"group {group.get('name')}: no rules")
    for group, rule in ctx.rule_list():
        if ("alert" in rule) == ("record" in rule):
            problems.append(f"group {group}: a rule needs exactly one of alert and record: {rule}")
            continue
        if "record" in rule:
            continue
        name = rule["alert"]
        label = f"alert {name}"
        if name in names:
            problems.append(f"{label}: defined twice")
        names.add(name)
        if not re.fullmatch(r"Switchboard[A-Z][A-Za-z0-9]+", str(name)):
            problems.append(f"{label}: name it Switchboard<CamelCase> (the runbook anchor is its name)")
        if not str(rule.get("expr", "")).strip():
            problems.append(f"{label}: no expr")
        duration = rule.get("for")
        if duration is None:
            problems.append(f"{label}: no `for` (a single bad scrape would page)")
        elif not DURATION.match(str(duration)):
            problems.append(f"{label}: for: {duration!r} is not a duration")
        severity = (rule.get("labels") or {}).get("severity")
        if severity is None:
            problems.append(f"{label}: no severity label")
        elif severity not in SEVERITIES:
            problems.append(f"{label}: severity {severity!r}, expected {SEVERITY_NOTE}")
        annotations = rule.get("annotations") or {}
        for key in ("summary", "description", "runbook"):
            if not str(annotations.get(key) or "").strip():
                problems.append(f"{label}: no {key} annotation")
        try:
            a = analyse(str(rule.get("expr", "")))
        except PromQLError:
            continue
        result = rule_result_labels(a, targets, ctx.facts)
        for key, text in annotations.items():
            for used in re.findall(r"\$labels\.([A-Za-z_][A-Za-z0-9_]*)", str(text)):
                if used not in result:
                    problems.append(f"{label}: annotation {key} uses $labels.{used}, which the alert does not carry ({', '.join(sorted(result))})")
    return problems, f"{len(names)} alerts, each with for, severity ({SEVERITY_NOTE}), summary, description, runbook; annotations use only labels the alert carries"


def check_runbooks(ctx):
    problems = []
    anchors, bodies = github_anchors(ctx.readme)
    alerts = [rule["alert"] for rule in ctx.alerts()]
    for rule in ctx.alerts():
        name = rule["alert"]
        runbook = str((rule.get("annotations") or {}).get("runbook") or "")
        m = re.fullmatch(r"(?:.*/)?deploy/README\.md#([\w-]+)", runbook)
        if not m:
            problems.append(f"alert {name}: runbook {runbook!r} is not deploy/README.md#<anchor>")
            continue
        anchor = m.group(1)
        if anchor not in anchors:
            problems.append(f"alert {name}: runbook anchor #{anchor} is not a heading of deploy/README.md")
        elif anchors[anchor][1] != name:
            problems.append(f"alert {name}: runbook anchor #{anchor} is the heading '{anchors[anchor][1]}', not the alert's name")
        elif len(bodies.get(anchor, "")) < 80:
            problems.append(f"alert {name}: its runbook paragraph in deploy/README.md is missing or too short")
    for heading in monitoring_alert_headings(ctx.readme):
        if heading not in alerts:
            problems.append(f"deploy/README.md has a runbook for '{heading}', which is no alert in {RULES.name}")
    return problems, f"{len(alerts)} runbook anchors exist in deploy/README.md (Monitoring > Alerts), one paragraph per alert, none for an alert that is gone"


def metrics_table(markdown):
    """The rows of the table under '## Monitoring' > '### Metrics': {metric: (type, labels, exported by)}."""
    rows, section, sub, in_code, duplicates = {}, None, None, False, []
    for line in markdown.split("\n"):
        if line.startswith("```"):
            in_code = not in_code
        if in_code:
            continue
        m = re.match(r"^(#{2,3})\s+(.*?)\s*$", line)
        if m:
            if len(m.group(1)) == 2:
                section, sub = m.group(2), None
            else:
                sub = m.group(2)
            continue
        if section != "Monitoring" or sub != "Metrics" or not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        name = re.fullmatch(r"`([A-Za-z_:][A-Za-z0-9_:]*)`", cells[0]) if cells else None
        if not name or len(cells) < 5:
            continue  # the header, the separator
        if name.group(1) in rows:
            duplicates.append(name.group(1))
        labels = set(re.findall(r"`([^`]+)`", cells[2]))
        rows[name.group(1)] = (cells[1], labels, cells[3])
    return rows, duplicates


def check_metrics_table(ctx):
    """deploy/README.md's Metrics table lists every metric the sources export, with its type,
    its labels and (for a metric of one service's folder, or of a helper those call) the services."""
    problems = []
    rows, duplicates = metrics_table(ctx.readme)
    facts = ctx.facts
    if not rows:
        return ["deploy/README.md: no table under Monitoring > Metrics"], ""
    for name in duplicates:
        problems.append(f"deploy/README.md, Metrics: {name} has two rows")
    for metric in sorted(facts.metrics.values(), key=lambda m: m.name):
        row = rows.get(metric.name)
        if row is None:
            problems.append(f"deploy/README.md, Metrics: no row for {metric.name} ({metric.prom_type}, made in {metric.places[0][0]}:{metric.places[0][1]})")
            continue
        kind, labels, exporter = row
        if kind != metric.prom_type:
            problems.append(f"deploy/README.md, Metrics: {metric.name} is a {metric.prom_type} ({metric.kind}), the table says {kind!r}")
        if metric.labels is not None and labels != metric.labels:
            problems.append(f"deploy/README.md, Metrics: {metric.name} has the labels {', '.join(sorted(metric.labels)) or 'none'}, "
                            f"the table says {', '.join(sorted(labels)) or 'none'}")
        places = metric.callers or metric.places
        services = {Path(p).parts[1].lower() for p, _ in places if Path(p).parts[0] == "Services"}
        if services and all(Path(p).parts[0] == "Services" for p, _ in places):
            everywhere = services >= set(facts.services) and "every service" in exporter.lower()
            missing = [] if everywhere else sorted(s for s in services if s in facts.services and s not in exporter.lower())
            if missing:
                problems.append(f"deploy/README.md, Metrics: {metric.name} is exported by {', '.join(sorted(services))}, the table says {exporter!r}")
    for name in sorted(set(rows) - set(facts.metrics)):
        problems.append(f"deploy/README.md, Metrics: {name} is in the table but exported by no Swift source")
    return problems, f"deploy/README.md's Metrics table: a row for each of the {len(facts.metrics)} metrics with its type, labels and exporting services"


def check_rule_tests(ctx):
    problems = []
    tests = ctx.rule_tests or {}
    files = tests.get("rule_files") or []
    if RULES.name not in files:
        problems.append(f"{RULE_TESTS.name}: rule_files does not name {RULES.name}")
    fired, quiet = set(), set()
    for test in tests.get("tests") or []:
        for case in test.get("alert_rule_test") or []:
            (fired if case.get("exp_alerts") else quiet).add(case.get("alertname"))
    names = {rule["alert"] for rule in ctx.alerts()}
    for name in sorted(names - fired):
        problems.append(f"{RULE_TESTS.name}: no test in which {name} fires")
    for name in sorted((fired | quiet) - names):
        problems.append(f"{RULE_TESTS.name}: tests {name}, which is no alert")
    return problems, f"{RULE_TESTS.name}: each of the {len(names)} alerts fires in a test ({len(quiet & names)} also tested quiet)"


def relabel(configs, labels):
    """Prometheus' relabelling (keep, drop, replace, labelmap, labeldrop, labelkeep); None: dropped."""
    labels = dict(labels)
    for rc in configs:
        action = rc.get("action", "replace")
        regex = re.compile("^(?:" + str(rc.get("regex", "(.*)")) + ")$")
        value = str(rc.get("separator", ";")).join(labels.get(s, "") for s in rc.get("source_labels") or [])
        if action == "keep":
            if not regex.match(value):
                return None
        elif action == "drop":
            if regex.match(value):
                return None
        elif action == "replace":
            m = regex.match(value)
            if m:
                replacement = re.sub(r"\$\{?(\w+)\}?", lambda g: m.group(int(g.group(1)) if g.group(1).isdigit() else g.group(1)) or "",
                                     str(rc.get("replacement", "$1")))
                target = rc.get("target_label")
                if replacement:
                    labels[target] = replacement
                else:
                    labels.pop(target, None)
        elif action == "labelmap":
            for key in list(labels):
                m = regex.match(key)
                if m:
                    labels[m.expand(str(rc.get("replacement", "$1")).replace("$", "\\"))] = labels[key]
        elif action == "labeldrop":
            labels = {k: v for k, v in labels.items() if not regex.match(k)}
        elif action == "labelkeep":
            labels = {k: v for k, v in labels.items() if regex.match(k)}
        else:
            raise ValueError(f"relabel action {action} is not simulated")
    return labels


def meta_name(text):
    return re.sub(r"[^a-zA-Z0-9_]", "_", text)


def pod_targets(job, pod, namespace, ip, phase="Running"):
    """The targets Kubernetes SD (role pod) makes of a pod template, after the job's relabelling."""
    meta = pod["template"]["metadata"]
    containers = pod["template"]["spec"].get("containers") or []
    out = []
    for container in containers:
        for port in container.get("ports") or [{}]:
            labels = {"__address__": f"{ip}:{port['containerPort']}" if port else ip, "__metrics_path__": job.get("metrics_path", "/metrics"),
                      "__scheme__": "http", "job": job["job_name"], "__meta_kubernetes_namespace": namespace,
                      "__meta_kubernetes_pod_name": pod["name"], "__meta_kubernetes_pod_ip": ip, "__meta_kubernetes_pod_phase": phase,
                      "__meta_kubernetes_pod_container_name": container.get("name", "")}
            for key, value in (meta.get("labels") or {}).items():
                labels["__meta_kubernetes_pod_label_" + meta_name(key)] = str(value)
                labels["__meta_kubernetes_pod_labelpresent_" + meta_name(key)] = "true"
            for key, value in (meta.get("annotations") or {}).items():
                labels["__meta_kubernetes_pod_annotation_" + meta_name(key)] = str(value)
                labels["__meta_kubernetes_pod_annotationpresent_" + meta_name(key)] = "true"
            result = relabel(job.get("relabel_configs") or [], labels)
            if result is not None:
                if "instance" not in result:
                    result["instance"] = result["__address__"]
                out.append(result)
    return out


def load_manifests():
    import yaml
    pods = {}
    for path in sorted(K8S_BASE.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not isinstance(doc, dict) or doc.get("kind") not in ("Deployment", "Job", "StatefulSet", "DaemonSet"):
                continue
            spec = doc["spec"]
            template = spec.get("template") or (spec.get("jobTemplate") or {}).get("spec", {}).get("template")
            pods[doc["metadata"]["name"]] = {"name": doc["metadata"]["name"] + "-7d4b9c-x2x8q", "kind": doc["kind"], "template": template}
    return pods


def check_prometheus_config(ctx):
    problems, notes = [], []
    config, facts = ctx.config or {}, ctx.facts
    for rule_file in config.get("rule_files") or []:
        if not (CONFIG.parent / rule_file).exists():
            problems.append(f"rule_files: {rule_file} does not exist next to {CONFIG.name}")
    if RULES.name not in (config.get("rule_files") or []):
        problems.append(f"rule_files does not load {RULES.name}")
    jobs = config.get("scrape_configs") or []
    if len(set(ctx.jobs())) != len(jobs):
        problems.append("two scrape jobs share a job_name")
    k8s = [j for j in jobs if any(sd.get("role") == "pod" for sd in j.get("kubernetes_sd_configs") or [])]
    static = [j for j in jobs if j.get("static_configs")]
    if not k8s:
        problems.append("no job with kubernetes_sd_configs (role: pod) for deploy/k8s")
    if not static:
        problems.append("no static_configs job for `make up` on one machine")
    # The Kubernetes job run against the pods of deploy/k8s/base.
    for job in k8s:
        try:
            for service in facts.services:
                pod = ctx.manifests.get(f"switchboard-{service}")
                if pod is None:
                    problems.append(f"deploy/k8s/base has no Deployment switchboard-{service}")
                    continue
                annotations = pod["template"]["metadata"].get("annotations") or {}
                port = facts.ports.get(service)
                if annotations.get("prometheus.io/scrape") != "true" or annotations.get("prometheus.io/port") != str(port) or annotations.get("prometheus.io/path") != "/metrics":
                    problems.append(f"switchboard-{service}'s pod template: prometheus.io/scrape \"true\", port \"{port}\", path /metrics expected, found {annotations}")
                for ip, address in (("10.1.2.3", f"10.1.2.3:{port}"), ("fd00:10::7", f"[fd00:10::7]:{port}")):
                    targets = pod_targets(job, pod, "switchboard", ip)
                    if len(targets) != 1:
                        problems.append(f"job {job['job_name']}: the pod of switchboard-{service} (IP {ip}) makes {len(targets)} targets, expected 1")
                        continue
                    t = targets[0]
                    want = {"__address__": address, "__metrics_path__": "/metrics", "service": service, "pod": pod["name"], "namespace": "switchboard"}
                    wrong = {k: (t.get(k), v) for k, v in want.items() if t.get(k) != v}
                    if wrong:
                        problems.append(f"job {job['job_name']}: the pod of switchboard-{service} (IP {ip}) becomes " + ", ".join(f"{k}={got!r} (expected {v!r})" for k, (got, v) in wrong.items()))
                if pod_targets(job, pod, "switchboard", "10.1.2.3", phase="Pending"):
                    problems.append(f"job {job['job_name']}: a pending pod of switchboard-{service} is scraped")
            for name, pod in ctx.manifests.items():
                if not any(name == f"switchboard-{s}" for s in facts.services) and pod_targets(job, pod, "switchboard", "10.1.2.9"):
                    problems.append(f"job {job['job_name']}: {pod['kind']} {name}'s pod would be scraped (it serves no /metrics)")
            foreign = {"name": "other-app-1", "kind": "Deployment", "template": {"metadata": {"labels": {"app": "other"}, "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": "9000"}},
                                                                                   "spec": {"containers": [{"name": "x", "ports": [{"containerPort": 9000}]}]}}}
            if pod_targets(job, foreign, "other", "10.1.2.10"):
                notes.append("also scrapes other annotated pods")
        except (ValueError, KeyError, TypeError, re.error) as error:
            problems.append(f"job {job.get('job_name')}: relabelling could not be simulated: {error!r}")
    # The static job: the default port of each service on this machine.
    for job in static:
        if job.get("metrics_path", "/metrics") != "/metrics":
            problems.append(f"job {job['job_name']}: metrics_path {job.get('metrics_path')}, the services serve /metrics")
        found = {}
        for sc in job["static_configs"]:
            service = (sc.get("labels") or {}).get("service")
            for target in sc.get("targets") or []:
                found.setdefault(service, []).append(target)
                if "pod" not in (sc.get("labels") or {}):
                    problems.append(f"job {job['job_name']}: target {target} has no pod label (the Kubernetes job sets one)")
        for service in facts.services:
            want = {f"127.0.0.1:{facts.ports.get(service)}", f"localhost:{facts.ports.get(service)}"}
            got = found.get(service, [])
            if len(got) != 1 or got[0] not in want:
                problems.append(f"job {job['job_name']}: {service} should be one target on port {facts.ports.get(service)} (ServiceConfig.swift), found {got or 'none'}")
        for service in set(found) - set(facts.services):
            problems.append(f"job {job['job_name']}: a target labelled service={service!r}, which is no service")
    summary = (f"rule_files {', '.join(config.get('rule_files') or [])}; "
               + "; ".join(f"job {j['job_name']}: the five pods of deploy/k8s/base become one target each (IPv4 and IPv6) with service, pod, namespace; the topics Job's pod is not scraped" for j in k8s)
               + "; " + "; ".join(f"job {j['job_name']}: " + ", ".join(f"{s}:{facts.ports.get(s)}" for s in facts.services) for j in static)
               + (f" ({'; '.join(notes)})" if notes else ""))
    return problems, summary


def is_datasource_ref(ref):
    if isinstance(ref, dict):
        return ref.get("uid") in ("${datasource}", "$datasource")
    return ref in ("${datasource}", "$datasource")


def check_dashboards(ctx):
    problems, uids, titles, panels = [], {}, {}, 0
    if not ctx.dashboards:
        return [f"no dashboards in {DASHBOARDS.relative_to(ROOT)}"], ""
    for path, board in ctx.dashboards:
        where = path.name
        uid, title = board.get("uid"), board.get("title")
        if not uid or not re.fullmatch(r"[A-Za-z0-9_-]{1,40}", str(uid)):
            problems.append(f"{where}: uid {uid!r} (1-40 letters, digits, - or _)")
        elif uid in uids:
            problems.append(f"{where}: uid {uid} is also {uids[uid]}'s")
        uids.setdefault(uid, where)
        if not title:
            problems.append(f"{where}: no title")
        elif title in titles:
            problems.append(f"{where}: title '{title}' is also {titles[title]}'s")
        titles.setdefault(title, where)
        if board.get("schemaVersion") != 39:
            problems.append(f"{where}: schemaVersion {board.get('schemaVersion')}, expected 39")
        variables = (board.get("templating") or {}).get("list") or []
        ds = [v for v in variables if v.get("name") == "datasource"]
        if not ds or ds[0].get("type") != "datasource" or ds[0].get("query") != "prometheus":
            problems.append(f"{where}: no template variable `datasource` of type datasource with query prometheus")
        defined = {v.get("name") for v in variables}
        for var in variables:
            if var.get("type") == "query" and not is_datasource_ref(var.get("datasource")):
                problems.append(f"{where}: variable {var.get('name')} does not query ${{datasource}} (datasource {var.get('datasource')!r})")
        ids = set()
        for panel in panels_of(board):
            label = f"{where}: panel {panel.get('id')} '{panel.get('title')}'"
            if panel.get("id") in ids:
                problems.append(f"{label}: id used twice")
            ids.add(panel.get("id"))
            if not isinstance(panel.get("gridPos"), dict):
                problems.append(f"{label}: no gridPos")
            if panel.get("type") in ("row", "text", "news", "dashlist", "alertlist"):
                continue
            panels += 1
            if not panel.get("title"):
                problems.append(f"{label}: no title")
            if not is_datasource_ref(panel.get("datasource")):
                problems.append(f"{label}: datasource {panel.get('datasource')!r}, expected the ${{datasource}} variable")
            targets = panel.get("targets") or []
            if not targets:
                problems.append(f"{label}: no targets")
            refs = set()
            for target in targets:
                if not str(target.get("expr") or "").strip():
                    problems.append(f"{label}: target {target.get('refId')} has no expr")
                if target.get("refId") in refs:
                    problems.append(f"{label}: refId {target.get('refId')} twice")
                refs.add(target.get("refId"))
                if "datasource" in target and not is_datasource_ref(target["datasource"]):
                    problems.append(f"{label}: target {target.get('refId')} datasource {target['datasource']!r}, expected ${{datasource}}")
                for var in variables_in(str(target.get("expr") or "")):
                    if var not in defined and var not in GRAFANA_BUILTINS:
                        problems.append(f"{label}: uses ${var}, which the dashboard does not define")
    return problems, f"{len(ctx.dashboards)} dashboards ({', '.join(sorted(str(u) for u in uids))}), {panels} panels with targets, schemaVersion 39, all on ${{datasource}}, no undefined variable"


# ------------------------------------------------------------------------------------------
# promtool.

def find_promtool():
    for candidate in (os.environ.get("PROMTOOL"), shutil.which("promtool"), str(LOCAL_PROMTOOL)):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def run_promtool(promtool, *args, cwd=None):
    result = subprocess.run([promtool, *args], capture_output=True, text=True, cwd=cwd, timeout=120)
    return result.returncode, (result.stdout + result.stderr).strip()


def dump_yaml(data, path):
    import yaml
    path.write_text(yaml.safe_dump(data, sort_keys=False, width=1000))


def promtool_problems(out, tmp, command):
    """promtool's complaints, without its banners and with the temporary folder's name removed."""
    lines = [line.replace(str(tmp) + "/", "").strip() for line in out.splitlines()]
    lines = [line for line in lines if line and not line.startswith(("Checking", "Unit Testing")) and line not in ("FAILED:", "SUCCESS")]
    short = [line for line in lines if line.startswith("alertname:") or "error" in line.lower() or "FAILED" in line]
    return [f"{command}: {line}" for line in (short or lines)[:20]] or [f"{command}: failed"]


def check_promtool_rules(ctx, promtool):
    with tempfile.TemporaryDirectory() as tmp:
        path = RULES if ctx.pristine else Path(tmp) / RULES.name
        if not ctx.pristine:
            dump_yaml(ctx.rules, path)
        code, out = run_promtool(promtool, "check", "rules", str(path))
        if code:
            return promtool_problems(out, tmp, "promtool check rules"), ""
    m = re.search(r"SUCCESS: (\d+) rules", out)
    return [], f"promtool check rules {RULES.relative_to(ROOT)}: {m.group(1) if m else '?'} rules"


def check_promtool_config(ctx, promtool):
    """`promtool check config`; a promtool built without Kubernetes discovery (Debian's) checks
    the configuration without the kubernetes_sd_configs jobs, and says so."""
    note = ""
    with tempfile.TemporaryDirectory() as tmp:
        path = CONFIG
        if not ctx.pristine:
            path = Path(tmp) / CONFIG.name
            dump_yaml(ctx.config, path)
            for rule_file in (ctx.config or {}).get("rule_files") or []:
                if (CONFIG.parent / rule_file).exists():
                    (Path(tmp) / rule_file).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy(CONFIG.parent / rule_file, Path(tmp) / rule_file)
        code, out = run_promtool(promtool, "check", "config", str(path))
        if code and "kubernetes_sd_configs not found" in out:
            reduced = copy.deepcopy(ctx.config)
            dropped = [j["job_name"] for j in reduced["scrape_configs"] if j.get("kubernetes_sd_configs")]
            reduced["scrape_configs"] = [j for j in reduced["scrape_configs"] if not j.get("kubernetes_sd_configs")]
            path = Path(tmp) / CONFIG.name
            dump_yaml(reduced, path)
            for rule_file in reduced.get("rule_files") or []:
                if (CONFIG.parent / rule_file).exists() and not (Path(tmp) / rule_file).exists():
                    (Path(tmp) / rule_file).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy(CONFIG.parent / rule_file, Path(tmp) / rule_file)
            code, out = run_promtool(promtool, "check", "config", str(path))
            note = (f" (this promtool is built without Kubernetes discovery, as Debian's is: it checked the file "
                    f"without job {', '.join(dropped)}, which the relabelling check above covers)")
        if code:
            return promtool_problems(out, tmp, "promtool check config"), ""
    return [], f"promtool check config {CONFIG.relative_to(ROOT)}: valid, rule files found{note}"


def check_promtool_tests(ctx, promtool):
    with tempfile.TemporaryDirectory() as tmp:
        path = RULE_TESTS
        if not ctx.pristine:
            dump_yaml(ctx.rules, Path(tmp) / RULES.name)
            dump_yaml(ctx.rule_tests, Path(tmp) / RULE_TESTS.name)
            path = Path(tmp) / RULE_TESTS.name
        code, out = run_promtool(promtool, "test", "rules", str(path))
        if code:
            return promtool_problems(out, tmp, f"promtool test rules {RULE_TESTS.name}"), ""
    cases = sum(len(t.get("alert_rule_test") or []) for t in (ctx.rule_tests or {}).get("tests") or [])
    return [], f"promtool test rules {RULE_TESTS.relative_to(ROOT)}: {cases} alert cases pass"


def check_promtool_dashboards(ctx, promtool):
    """Every dashboard expression (variables replaced) parsed by promtool as a recording rule."""
    rules, names = [], {}
    for where, expr, defined in ctx.expressions():
        if defined is None:
            continue
        name = f"dashboard_check:expr_{len(rules)}"
        names[name] = where
        rules.append({"record": name, "expr": concrete(expr)})
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "dashboards.rules.yml"
        dump_yaml({"groups": [{"name": "dashboards", "rules": rules}]}, path)
        code, out = run_promtool(promtool, "check", "rules", str(path))
    if code:
        problems = []
        for line in out.splitlines():
            m = re.search(r"group \"dashboards\", rule (\d+), \"([^\"]+)\": (.*)", line)
            if m:
                problems.append(f"promtool: {names.get(m.group(2), m.group(2))}: {m.group(3)}")
            elif line.strip() and "Checking" not in line and "FAILED" not in line:
                problems.append(f"promtool: {line.strip()}")
        return problems or [out], ""
    return [], f"promtool parsed all {len(rules)} dashboard expressions"


# ------------------------------------------------------------------------------------------
# The run.

class Report:
    def __init__(self):
        self.passed = self.failed = 0

    def record(self, label, problems, summary):
        if problems:
            self.failed += 1
            print(f"FAIL {label}")
            for p in problems:
                print(f"       - {p}")
        else:
            self.passed += 1
            print(f"ok   {label}: {summary}")


CHECKS = [
    ("metric names", check_metric_names),
    ("label names and values", check_label_names),
    ("alert rules", check_alert_rules),
    ("runbooks", check_runbooks),
    ("metrics table", check_metrics_table),
    ("rule tests", check_rule_tests),
    ("prometheus.yml", check_prometheus_config),
    ("dashboards", check_dashboards),
]
PROMTOOL_CHECKS = [
    ("promtool: rules", check_promtool_rules),
    ("promtool: config", check_promtool_config),
    ("promtool: rule tests", check_promtool_tests),
    ("promtool: dashboard expressions", check_promtool_dashboards),
]


def variants(ctx):
    """(label, check, broken context): each must make its check fail."""
    def with_rule(name, mutate):
        v = ctx.variant()
        for rule in v.alerts():
            if rule["alert"] == name:
                mutate(rule)
                return v
        raise AssertionError(f"self-test: alert {name} is gone from {RULES.name}: update the self-test")

    def with_panel(uid, mutate):
        v = ctx.variant()
        for _, board in v.dashboards:
            if board.get("uid") == uid:
                panel = next(p for p in panels_of(board) if p.get("targets"))
                mutate(panel, board)
                return v
        raise AssertionError(f"self-test: dashboard {uid} is gone: update the self-test")

    def with_config(mutate):
        v = ctx.variant()
        mutate(v.config)
        return v

    def job(config, kind):
        return next(j for j in config["scrape_configs"] if j.get(kind))

    def drop_keep(config):
        k8s = job(config, "kubernetes_sd_configs")
        k8s["relabel_configs"] = [rc for rc in k8s["relabel_configs"] if "__meta_kubernetes_pod_annotation_prometheus_io_scrape" not in (rc.get("source_labels") or [])]

    def wrong_port(config):
        job(config, "static_configs")["static_configs"][2]["targets"] = ["127.0.0.1:9082"]

    def no_service_label(config):
        k8s = job(config, "kubernetes_sd_configs")
        k8s["relabel_configs"] = [rc for rc in k8s["relabel_configs"] if rc.get("target_label") != "service"]

    def duplicate_uid(v):
        (_, first), (_, second) = v.dashboards[0], v.dashboards[1]
        second["uid"] = first["uid"]
        return v

    def no_ds_variable(v):
        board = v.dashboards[0][1]
        board["templating"]["list"] = [x for x in board["templating"]["list"] if x.get("name") != "datasource"]
        return v

    def ghost_runbook(v):
        heading = "\n### What is not measured yet\n"
        if heading not in v.readme:
            raise AssertionError("self-test: deploy/README.md's Monitoring section changed shape: update the self-test")
        v.readme = v.readme.replace(heading, "\n#### SwitchboardTeapotOverheated\n\nThe teapot is too hot: this alert was removed long ago, but its runbook paragraph stayed behind.\n" + heading, 1)
        return v

    def untested(v):
        for test in v.rule_tests["tests"]:
            for case in test.get("alert_rule_test") or []:
                if case.get("alertname") == "SwitchboardDeadLetterBurst":
                    case["exp_alerts"] = []
        return v

    cases = [
        ("a rule naming a metric nobody exports", check_metric_names,
         with_rule("SwitchboardConsumerLagHigh", lambda r: r.update(expr="max by (namespace) (switchboard_executor_lag_events) > 5000"))),
        ("a histogram without its suffix", check_metric_names,
         with_rule("SwitchboardHumanQueueUnattended", lambda r: r.update(expr=r["expr"].replace("switchboard_hil_wait_seconds_count", "switchboard_hil_wait_seconds")))),
        ("_bucket of a counter", check_metric_names,
         with_rule("SwitchboardDeadLetters", lambda r: r.update(expr="sum(rate(switchboard_events_dead_lettered_total_bucket[5m])) > 0"))),
        ("rate() of a gauge", check_metric_names,
         with_rule("SwitchboardPlannerLagCritical", lambda r: r.update(expr="rate(switchboard_planner_lag_events[5m]) > 100"))),
        ("rate() of a gauge made in a helper", check_metric_names,
         with_rule("SwitchboardCircuitBreakerOpen", lambda r: r.update(expr="sum by (kind, key) (rate(switchboard_circuit_breaker_state[5m])) > 0"))),
        ("an unbalanced expression", check_metric_names,
         with_rule("SwitchboardDeadLetters", lambda r: r.update(expr="sum by (group) (increase(switchboard_events_dead_lettered_total[10m]) > 0"))),
        ("a panel naming a metric nobody exports", check_metric_names,
         with_panel("switchboard-llm-cost", lambda p, b: p["targets"][0].update(expr="sum(rate(switchboard_llm_cost_usd_total[5m]))"))),
        ("a dashboard variable on a metric nobody exports", check_metric_names,
         variable_on_unknown_metric(ctx)),
        ("a matcher on a label the metric lacks", check_label_names,
         with_rule("SwitchboardHandoverSLABreached", lambda r: r.update(expr='sum by (namespace) (increase(switchboard_hil_sla_breaches_total{queue="general"}[15m])) > 0'))),
        ("by () a label no metric has", check_label_names,
         with_rule("SwitchboardDeadLetters", lambda r: r.update(expr="sum by (namespace, tenant) (increase(switchboard_events_dead_lettered_total[10m])) > 0"))),
        ("a consumer group that does not exist", check_label_names,
         with_rule("SwitchboardConsumerStalled", lambda r: r.update(expr='rate(switchboard_event_handler_retries_total{group="switchboard.billing"}[5m]) > 0'))),
        ("a job regex matching no scrape job", check_label_names,
         with_rule("SwitchboardServiceDown", lambda r: r.update(expr='up{job="kubernetes-pods"} == 0'))),
        ("a regex with one alternative matching no scrape job", check_label_names,
         with_rule("SwitchboardServiceDown", lambda r: r.update(expr='up{job=~"switchboard|switchboard-dev"} == 0'))),
        ("a route written as declared (:id), not as Hummingbird records it ({id})", check_label_names, route_as_declared(ctx)),
        ("a route exclusion with a path no service serves", check_label_names,
         with_rule("SwitchboardHTTPServerErrors", lambda r: r.update(expr=r["expr"].replace("/metrics|/health|/ready", "/metrics|/healthz|/ready")))),
        ("a breaker kind nobody records (the values a helper's callers pass)", check_label_names,
         with_rule("SwitchboardCircuitBreakerOpen", lambda r: r.update(expr='max by (namespace, kind, key) (switchboard_circuit_breaker_state{kind="agent"}) == 2'))),
        ("a token direction the planner does not count", check_label_names,
         with_panel("switchboard-llm-cost", lambda p, b: p["targets"][0].update(expr='sum(rate(switchboard_llm_tokens_total{direction="prompt"}[5m]))'))),
        ("exported_<label> of a label no target label displaces", check_label_names,
         with_panel("switchboard-overview", lambda p, b: p["targets"][0].update(expr='max by (exported_group) (switchboard_consumer_lag_events)'))),
        ("an annotation using a label an inner aggregation keeps and the outer one drops", check_alert_rules,
         with_rule("SwitchboardConsumerLagHigh", lambda r: r["annotations"].update(summary="{{ $labels.partition }} lags"))),
        ("an alert without for", check_alert_rules, with_rule("SwitchboardDeadLetters", lambda r: r.pop("for"))),
        ("an alert without severity", check_alert_rules, with_rule("SwitchboardServiceDown", lambda r: r["labels"].pop("severity"))),
        ("an alert with severity page", check_alert_rules, with_rule("SwitchboardServiceDown", lambda r: r["labels"].update(severity="page"))),
        ("an alert without summary", check_alert_rules, with_rule("SwitchboardHandlerRetries", lambda r: r["annotations"].pop("summary"))),
        ("an annotation using a label the alert drops", check_alert_rules,
         with_rule("SwitchboardConsumerLagHigh", lambda r: r["annotations"].update(summary="{{ $labels.pod }} lags"))),
        ("a runbook anchor missing from deploy/README.md", check_runbooks,
         with_rule("SwitchboardDeadLetters", lambda r: r["annotations"].update(runbook="deploy/README.md#dead-letters-runbook"))),
        ("an alert without runbook", check_runbooks, with_rule("SwitchboardServiceDown", lambda r: r["annotations"].pop("runbook"))),
        ("a runbook for an alert that is gone", check_runbooks, ghost_runbook(ctx.variant())),
        ("an alert no test makes fire", check_rule_tests, untested(ctx.variant())),
        ("a metric missing from deploy/README.md's Metrics table", check_metrics_table, readme_row(ctx, lambda row: "")),
        ("the Metrics table naming the wrong labels", check_metrics_table,
         readme_row(ctx, lambda row: row.replace("| `group`, `partition` |", "| `group` |"))),
        ("the Metrics table naming the wrong type", check_metrics_table,
         readme_row(ctx, lambda row: row.replace("| gauge |", "| counter |"))),
        ("the Metrics table naming the wrong exporter", check_metrics_table,
         readme_row(ctx, lambda row: row.replace("| planner (`kind=\"model\"`), executor (`kind=\"tool\"`) |", "| planner |"), metric="switchboard_circuit_breaker_state")),
        ("the Metrics table listing a metric nobody exports", check_metrics_table,
         readme_row(ctx, lambda row: row + "| `switchboard_turn_seconds` | histogram | – | gateway | message → reply |\n")),
        ("a Kubernetes job scraping pods without the annotation", check_prometheus_config, with_config(drop_keep)),
        ("a Kubernetes job without the service label", check_prometheus_config, with_config(no_service_label)),
        ("a static target on the wrong port", check_prometheus_config, with_config(wrong_port)),
        ("two dashboards with one uid", check_dashboards, duplicate_uid(ctx.variant())),
        ("a dashboard without the datasource variable", check_dashboards, no_ds_variable(ctx.variant())),
        ("a panel without targets", check_dashboards, with_panel("switchboard-overview", lambda p, b: p.update(targets=[]))),
        ("a panel on a fixed data source", check_dashboards,
         with_panel("switchboard-human-queue", lambda p, b: p.update(datasource={"type": "prometheus", "uid": "P1809F7CD0C75ACF3"}))),
        ("a panel using an undefined variable", check_dashboards,
         with_panel("switchboard-turn-latency", lambda p, b: p["targets"][0].update(expr='max(switchboard_planner_lag_events{tenant="$tenant"})'))),
        ("schemaVersion 27", check_dashboards, with_panel("switchboard-overview", lambda p, b: b.update(schemaVersion=27))),
    ]
    return cases


def readme_row(ctx, change, metric="switchboard_consumer_lag_events"):
    """A variant whose deploy/README.md has `metric`'s Metrics row changed by `change`."""
    v = ctx.variant()
    m = re.search(r"^\| `" + metric + r"` \|.*\n", v.readme, re.M)
    if not m:
        raise AssertionError(f"self-test: deploy/README.md's Metrics table has no row for {metric}: update the self-test")
    v.readme = v.readme[:m.start()] + change(m.group()) + v.readme[m.end():]
    if v.readme == ctx.readme:
        raise AssertionError(f"self-test: the change to {metric}'s row in deploy/README.md changed nothing: update the self-test")
    return v


def route_as_declared(ctx):
    """A variant whose dashboards write the message route as GatewayAPI.swift declares it."""
    v = ctx.variant()
    changed = False
    for _, board in v.dashboards:
        for panel in panels_of(board):
            for target in panel.get("targets") or []:
                expr = target.get("expr") or ""
                if 'route="/v1/conversations/{id}/messages"' in expr:
                    target["expr"] = expr.replace("{id}", ":id")
                    changed = True
    if not changed:
        raise AssertionError("self-test: no panel selects route=\"/v1/conversations/{id}/messages\": update the self-test")
    return v


def variable_on_unknown_metric(ctx):
    v = ctx.variant()
    for _, board in v.dashboards:
        for var in board["templating"]["list"]:
            if var.get("type") == "query":
                var["query"] = {"query": "label_values(switchboard_hil_agents_online, queue)", "refId": "X"}
                var["definition"] = var["query"]["query"]
                return v
    raise AssertionError("self-test: no dashboard has a query variable: update the self-test")


def promtool_variants(ctx):
    def with_rule(name, expr):
        v = ctx.variant()
        for rule in v.alerts():
            if rule["alert"] == name:
                rule["expr"] = expr
        return v

    def broken_test(v):
        v.rule_tests["tests"][1]["alert_rule_test"][1]["exp_alerts"][0]["exp_labels"]["severity"] = "warning"
        return v

    def broken_panel(v):
        next(p for p in panels_of(v.dashboards[0][1]) if p.get("targets"))["targets"][0]["expr"] = "sum(switchboard_events_handled_total{}) by"
        return v

    return [
        ("rate() of an instant vector (promtool check rules)", check_promtool_rules, with_rule("SwitchboardDeadLetters", "rate(switchboard_events_dead_lettered_total) > 0")),
        ("a unit test expecting the wrong severity (promtool test rules)", check_promtool_tests, broken_test(ctx.variant())),
        ("a scrape job without a name (promtool check config)", check_promtool_config,
         (lambda v: (v.config["scrape_configs"][-1].pop("job_name"), v)[1])(ctx.variant())),
        ("a dashboard expression that does not parse (promtool)", check_promtool_dashboards, broken_panel(ctx.variant())),
    ]


def self_test(ctx, promtool):
    print("== self-test: each check must reject a broken variant")
    caught, missed = 0, []
    try:
        cases = variants(ctx) + (promtool_variants(ctx) if promtool else [])
    except (AssertionError, KeyError, TypeError, IndexError, StopIteration, AttributeError) as error:
        print(f"FAIL self-test: could not build the broken variants: {error!r}")
        return 0, ["(variants)"]
    for label, check, variant_ctx in cases:
        problems, _ = check(variant_ctx, promtool) if check in [c for _, c in PROMTOOL_CHECKS] else check(variant_ctx)
        if problems:
            caught += 1
            print(f"ok   caught {label} ({check.__name__}): {problems[0]}")
        else:
            missed.append(label)
            print(f"FAIL not caught: {label} ({check.__name__} passed it)")
    return caught, missed


def print_metrics(facts):
    print(f"  exported by the sources ({len(facts.metrics)} metrics; factory: PrometheusMetricsFactory in {facts.bootstrap[0]}):")
    for metric in sorted(facts.metrics.values(), key=lambda m: m.name):
        def shown(label):
            values = metric.values.get(label)
            if label == "route" and values:
                return f"route=<{len(values)} patterns>"
            return f"{label}={'|'.join(sorted(values))}" if values else label
        labels = "{" + ",".join(shown(label) for label in sorted(metric.labels)) + "}" if metric.labels else ("{?}" if metric.labels is None else "")
        series = ", ".join(sorted(metric.series())) if metric.prom_type == "histogram" else metric.name
        print(f"    {metric.prom_type:<9} {metric.name}{labels}  [{facts.service_of(metric)}]" + (f"  -> {series}" if metric.prom_type == "histogram" else ""))


def check_factory(facts):
    """The suffix rules assume swift-prometheus' factory without renaming."""
    problems = []
    if facts.bootstrap is None:
        return ["no MetricsSystem.bootstrap( in Shared/ or Services/: cannot tell how metrics are exported"]
    path, text = facts.bootstrap
    # Either `MetricsSystem.bootstrap(PrometheusMetricsFactory(…))` or a factory variable
    # (its histogram buckets set) handed to `MetricsSystem.bootstrap(name)`.
    variable = re.search(r"\b(?:var|let)\s+(\w+)\s*=\s*PrometheusMetricsFactory\(", text)
    direct = re.search(r"MetricsSystem\.bootstrap\(\s*PrometheusMetricsFactory\(", text)
    via_variable = variable and re.search(r"MetricsSystem\.bootstrap\(\s*" + re.escape(variable.group(1)) + r"\s*\)", text)
    if not (direct or via_variable):
        problems.append(f"{path}: MetricsSystem is not bootstrapped with PrometheusMetricsFactory; teach this check the exporter's series")
    if "nameAndLabelSanitizer" in text:
        problems.append(f"{path}: the factory renames metrics (nameAndLabelSanitizer); teach this check the renaming")
    for metric in facts.metrics.values():
        if not METRIC_NAME.match(metric.name):
            problems.append(f"{metric.name} ({metric.places[0][0]}): not a valid Prometheus metric name, and the factory does not sanitise it")
        for label in metric.labels or ():
            if not LABEL_NAME.match(label) or label.startswith("__"):
                problems.append(f"{metric.name}: label {label!r} is not a valid Prometheus label name")
    problems += facts.factory_notes + facts.route_notes
    return problems


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--self-test", action="store_true", help="run only the self-test")
    options = parser.parse_args()
    ensure_dependencies()
    import yaml

    facts = Facts()
    missing = [what for what, value in (("services", facts.services), ("ports", facts.ports), ("metrics", facts.metrics), ("consumer groups", facts.groups)) if not value]
    if missing:
        sys.exit(f"check-observability: could not read {', '.join(missing)} from the sources")
    try:
        dashboards = [(path, json.loads(path.read_text())) for path in sorted(DASHBOARDS.glob("*.json"))]
    except json.JSONDecodeError as error:
        sys.exit(f"check-observability: a dashboard is not JSON: {error}")
    try:
        ctx = Context(facts, load_yaml(CONFIG), load_yaml(RULES), load_yaml(RULE_TESTS), dashboards, facts.readme, load_manifests())
    except (OSError, yaml.YAMLError) as error:
        sys.exit(f"check-observability: {error}")
    promtool = find_promtool()
    version = run_promtool(promtool, "--version")[1].splitlines()[0] if promtool else None
    print(f"check-observability: {len(ctx.alerts())} alerts, {len(dashboards)} dashboards, {len(ctx.jobs())} scrape jobs; "
          + (f"promtool: {version} ({promtool})" if promtool else "promtool: not found"))
    print(f"  from the sources: services {', '.join(f'{s}:{facts.ports.get(s)}' for s in facts.services)}; consumer groups {', '.join(sorted(facts.groups))}")
    print_metrics(facts)
    if facts.computed:
        print(f"  notice: metrics with a computed name are not checked: {', '.join(facts.computed)}")
    targets = ctx.target_labels()
    clashes = [f"{m.name}{{{','.join(sorted(m.labels & targets))}}}" for m in sorted(facts.metrics.values(), key=lambda m: m.name) if m.labels and m.labels & targets]
    if clashes:
        print(f"  notice: labels the scrape also sets as target labels, which Prometheus keeps as exported_<label> (the target's value wins): {', '.join(clashes)}")
    report = Report()
    if not options.self_test:
        print("== sources")
        report.record("exporter", check_factory(facts), "PrometheusMetricsFactory without renaming: counters and gauges by name, Timers and Recorders as _bucket/_sum/_count; names and labels valid")
        print("== deploy/observability")
        for label, check in CHECKS:
            problems, summary = check(ctx)
            report.record(label, problems, summary)
        if promtool:
            for label, check in PROMTOOL_CHECKS:
                problems, summary = check(ctx, promtool)
                report.record(label, problems, summary)
        else:
            print("notice: promtool not found (PATH, $PROMTOOL, .run/prometheus): `promtool check rules/config` and `test rules` skipped; "
                  "scripts/install-test-deps.sh observability unpacks it from Debian's prometheus package")
    caught, missed = self_test(ctx, promtool)
    print()
    if report.failed or missed:
        print(f"check-observability: FAILED: {report.failed} of {report.passed + report.failed} checks failed; "
              f"self-test: {caught} broken variants caught, {len(missed)} not caught" + (f" ({', '.join(missed)})" if missed else ""))
        return 1
    checks = f"all {report.passed} checks passed; " if not options.self_test else ""
    print(f"check-observability: {checks}self-test: all {caught} broken variants caught" + ("" if promtool else " (promtool's skipped)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
