#!/usr/bin/env python3
"""Checks the deploy files: the Dockerfile (what a linter would: pinned bases, non-root, no
secrets, runtime libraries, health check, the Makefile's build command, librdkafka >= 2.11.1)
and the Kubernetes manifests (deploy/k8s: base, dev, prod rendered with `kubectl kustomize`,
every object validated against the Kubernetes schemas with kubernetes-validate, then the
workloads checked: probes, resources, disruption budgets, autoscalers, topics Job, Ingress,
Secrets by reference only).

Facts come from the sources, not from this file: the services and their ports
(Shared/DevStack, Shared/ServiceRuntime), the executables (Package.swift), the build flags
(Makefile), the topics (Shared/LogTopics), the exported metrics (Counter/Gauge/... labels in the
Swift sources), the Secrets an operator creates (deploy/README.md).

Every run also runs the self-test: each check against deliberately broken variants (a
`FROM debian:latest`, a Deployment without probes, …), which it must reject.

    python3 scripts/check-deploy.py              # checks, then the self-test; exit 1 on a failure
    python3 scripts/check-deploy.py --self-test  # the self-test only
    KUBECTL=/path/to/kubectl python3 scripts/check-deploy.py

Needs kubectl (its built-in kustomize) and, in .run/kv-venv, kubernetes-validate and PyYAML:
scripts/install-test-deps.sh installs both (`scripts/install-test-deps.sh deploy` only these).
"""

import argparse
import base64
import copy
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import checklib  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
VENV_PYTHON = ROOT / ".run" / "kv-venv" / "bin" / "python"
# The oldest Kubernetes the manifests target (autoscaling/v2, policy/v1, networking.k8s.io/v1
# Ingress are all GA there) and the newest schema kubernetes-validate 1.34 ships.
SCHEMA_VERSIONS = ["1.29.0", "1.34.0"]
MIN_LIBRDKAFKA = (2, 11, 1)
TARGETS = {"base": "deploy/k8s/base", "dev": "deploy/k8s/overlays/dev", "prod": "deploy/k8s/overlays/prod"}
# The reactors of a turn: autoscaled on consumer lag where their lag is exported.
REACTORS = ["planner", "executor", "verifier"]
SECRET_NAME = re.compile(r"(PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|ACCESS_?KEY|CREDENTIAL|(^|_)KEYS?$|^DATABASE_URL$|_KAFKA_PROPERTIES$)", re.I)
PRIVATE_MATERIAL = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----|AKIA[0-9A-Z]{16}|\bsk-[A-Za-z0-9]{20,}|postgres(ql)?://[^:/\s]+:[^@\s]+@")
PLACEHOLDER = re.compile(r"placeholder|fake|not-a-real|changeme|example", re.I)


def ensure_dependencies():
    checklib.ensure_modules(["yaml", "kubernetes_validate"], "check-deploy: kubernetes-validate and PyYAML are missing from .run/kv-venv: run scripts/install-test-deps.sh deploy")


# ------------------------------------------------------------------------------------------
# Facts from the sources.

class Facts:
    def __init__(self):
        read = lambda p: (ROOT / p).read_text()
        devstack = read("Shared/DevStack/DevStack.swift")
        m = re.search(r"static let services = \[([^\]]*)\]", devstack)
        self.services = re.findall(r'"([a-z]+)"', m.group(1)) if m else []
        config = read("Shared/ServiceRuntime/ServiceConfig.swift")
        self.ports = {name: int(port) for name, port in re.findall(r"static let (\w+) = (\d{4,5})\b", config)}
        package = read("Package.swift")
        self.executables = re.findall(r'\.executable\(name: "([^"]+)"', package)
        makefile = read("Makefile")
        m = re.search(r"^SWIFT_FLAGS\s*:?=\s*(.*)$", makefile, re.M)
        self.swift_flags = shlex.split(m.group(1)) if m else []
        topics = "".join((ROOT / "Shared/LogTopics").joinpath(f).read_text() for f in os.listdir(ROOT / "Shared/LogTopics") if f.endswith(".swift"))
        self.topics = re.findall(r'static let \w+ = "([^"]+)"', topics)
        self.metrics = {}
        for folder in ("Shared", "Services"):
            for path in sorted((ROOT / folder).rglob("*.swift")):
                for kind, name in re.findall(r'\b(Counter|FloatingPointCounter|Gauge|Recorder|Timer|Meter)\(label:\s*"([^"]+)"', path.read_text()):
                    self.metrics.setdefault(name, (kind, str(path.relative_to(ROOT))))
        self.readme = read("deploy/README.md")
        self.toolchain = None
        if shutil.which("swift"):
            try:
                out = subprocess.run(["swift", "--version"], capture_output=True, text=True, timeout=60).stdout + ""
                m = re.search(r"Swift version (\d+\.\d+(?:\.\d+)?)", out)
                self.toolchain = m.group(1) if m else None
            except (OSError, subprocess.SubprocessError):
                pass

    def lag_metric(self, service):
        """The consumer-lag gauge the sources export for a service's group, if any."""
        for name, (kind, _) in sorted(self.metrics.items()):
            if kind in ("Gauge", "Recorder") and name.startswith(f"switchboard_{service}_") and "lag" in name:
                return name
        return None


# ------------------------------------------------------------------------------------------
# The Dockerfile as stages of instructions (continuations joined, heredoc bodies attached).

class Instruction:
    def __init__(self, keyword, args, heredocs):
        self.keyword, self.args, self.heredocs = keyword, args, heredocs

    def text(self):
        return self.args + "".join("\n" + body for body in self.heredocs.values())


def parse_dockerfile(text):
    lines = text.split("\n")
    global_args, stages, i = [], [], 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        while line.rstrip().endswith("\\") and i < len(lines):
            line = line.rstrip()[:-1] + " "
            while i < len(lines) and lines[i].lstrip().startswith("#"):
                i += 1
            if i < len(lines):
                line += lines[i].strip()
                i += 1
        keyword, _, args = line.strip().partition(" ")
        keyword = keyword.upper()
        heredocs = {}
        for marker in re.findall(r"<<-?['\"]?([A-Za-z_][A-Za-z0-9_]*)['\"]?", args):
            body = []
            while i < len(lines) and lines[i].strip() != marker:
                body.append(lines[i])
                i += 1
            i += 1
            heredocs[marker] = "\n".join(body)
        ins = Instruction(keyword, args.strip(), heredocs)
        if keyword == "FROM":
            parts = args.split()
            parts = [p for p in parts if not p.startswith("--")]
            name = parts[2] if len(parts) >= 3 and parts[1].lower() == "as" else None
            stages.append({"image": parts[0] if parts else "", "name": name, "instructions": [ins]})
        elif stages:
            stages[-1]["instructions"].append(ins)
        else:
            global_args.append(ins)
    return global_args, stages


def stage_of(stages):
    """The final stage (the image that runs)."""
    return stages[-1] if stages else {"image": "", "name": None, "instructions": []}


def instructions(stage, keyword):
    return [ins for ins in stage["instructions"] if ins.keyword == keyword]


def parse_kv(args):
    """ENV/ARG arguments: `K=V K2="V 2"` or `K V` (ENV) or `K` (ARG)."""
    try:
        tokens = shlex.split(args, posix=True)
    except ValueError:
        tokens = args.split()
    if len(tokens) >= 2 and "=" not in tokens[0]:
        return [(tokens[0], " ".join(tokens[1:]))]
    pairs = []
    for token in tokens:
        key, eq, value = token.partition("=")
        pairs.append((key, value if eq else None))
    return pairs


def apt_packages(stage):
    packages = set()
    for ins in instructions(stage, "RUN"):
        for m in re.finditer(r"apt-get\s+install\s+([^&;|]*)", ins.args):
            packages.update(t for t in m.group(1).replace("\\", " ").split() if not t.startswith("-"))
    return packages


def version_tuple(text):
    return tuple(int(x) for x in re.findall(r"\d+", text)[:3])


EXACT_TAG = re.compile(r"(^|[-_.])(\d+\.\d+\.\d+|\d+\.\d+|\d{8})([-_.]|$)")


def check_docker_pinned(ctx):
    _, stages = ctx.dockerfile
    problems, seen, pinned = [], set(), []
    for stage in stages:
        image = stage["image"]
        if image in seen:  # FROM an earlier stage
            if stage["name"]:
                seen.add(stage["name"])
            continue
        if "$" in image:
            problems.append(f"FROM {image}: a variable, not a pinned image")
        else:
            ref, _, digest = image.partition("@")
            last = ref.rsplit("/", 1)[-1]
            repo_name, colon, tag = last.partition(":")
            if not colon:
                problems.append(f"FROM {image}: no tag (a bare name means :latest)")
            elif tag == "latest":
                problems.append(f"FROM {image}: the moving tag latest")
            elif not EXACT_TAG.search(tag):
                problems.append(f"FROM {image}: tag '{tag}' is not an exact version (x.y.z, a point release or a date)")
            elif repo_name == "swift":
                if not re.match(r"^\d+\.\d+\.\d+", tag):
                    problems.append(f"FROM {image}: the Swift toolchain needs its exact x.y.z")
                elif ctx.facts.toolchain and not tag.startswith(ctx.facts.toolchain + "-") and tag != ctx.facts.toolchain:
                    problems.append(f"FROM {image}: not the toolchain of this machine (swift --version: {ctx.facts.toolchain})")
            pinned.append(image)
        if stage["name"]:
            seen.add(stage["name"])
    if not stages:
        problems.append("no FROM")
    return problems, "base images pinned to exact versions: " + ", ".join(pinned)


def check_docker_non_root(ctx):
    _, stages = ctx.dockerfile
    final = stage_of(stages)
    users = instructions(final, "USER")
    if not users:
        return ["the final stage has no USER (it would run as root)"], ""
    user = users[-1].args.split(":")[0].strip()
    if user in ("root", "0"):
        return [f"the final stage runs as USER {users[-1].args}"], ""
    if not user.isdigit():
        return [f"USER {users[-1].args}: use a numeric uid (Kubernetes' runAsNonRoot can only verify numbers)"], ""
    return [], f"final stage runs as non-root USER {users[-1].args}"


def check_docker_no_secrets(ctx):
    global_args, stages = ctx.dockerfile
    problems = []
    every = global_args + [ins for s in stages for ins in s["instructions"]]
    for ins in every:
        if ins.keyword in ("ENV", "ARG"):
            for key, value in parse_kv(ins.args):
                if SECRET_NAME.search(key) and value not in (None, ""):
                    problems.append(f"{ins.keyword} {key} has a value in the Dockerfile (secrets come from the environment at run time)")
        if PRIVATE_MATERIAL.search(ins.text()):
            problems.append(f"{ins.keyword} {ins.args[:60]}…: looks like key material or a password in a URL")
    ignore = ctx.dockerignore
    entries = {line.strip().rstrip("/") for line in ignore.splitlines() if line.strip() and not line.startswith("#")}
    for needed in (".run", ".git", ".build"):
        if needed not in entries:
            problems.append(f".dockerignore does not exclude {needed}" + (" (.run/env holds development tokens, .run/auth-keys.json keys)" if needed == ".run" else ""))
    return problems, "no secret-looking ENV/ARG with a value, no key material; .dockerignore excludes .run, .git, .build"


def check_docker_runtime_libs(ctx):
    _, stages = ctx.dockerfile
    final = stage_of(stages)
    packages = apt_packages(final)
    problems = [f"the runtime stage does not install {p}" for p in ("libpq5", "libcurl4") if p not in packages]
    if "librdkafka1" in packages:
        problems.append("the runtime stage installs Debian's librdkafka1 (2.0.2 on Debian 12): copy the library built in the build stage instead")
    copies = [ins for ins in instructions(final, "COPY") if re.search(r"--from=\S+", ins.args) and "rdkafka" in ins.args]
    if not copies:
        problems.append("the runtime stage copies no librdkafka from the build stage")
    builds = [ins for s in stages[:-1] for ins in instructions(s, "RUN") if "librdkafka.so" in ins.args]
    if not builds:
        problems.append("no build stage puts librdkafka.so where the runtime stage copies it from")
    for stage in stages[:-1]:
        if "librdkafka-dev" in apt_packages(stage):
            problems.append(f"build stage {stage['name'] or stage['image']} installs Debian's librdkafka-dev: the build would not link the upstream release")
    return problems, "runtime stage: libpq5, libcurl4 installed, librdkafka copied from the build stage (not Debian's librdkafka1)"


def check_docker_healthcheck(ctx):
    _, stages = ctx.dockerfile
    final = stage_of(stages)
    checks = instructions(final, "HEALTHCHECK")
    if not checks:
        return ["the final stage has no HEALTHCHECK"], ""
    args = checks[-1].args
    if args.strip().upper() == "NONE":
        return ["HEALTHCHECK NONE"], ""
    command = args
    for path in re.findall(r"(/[\w./-]+)", args):
        for ins in instructions(final, "COPY"):
            for body in ins.heredocs.values():
                if ins.args.rstrip().endswith(path):
                    command += "\n" + body
    problems = []
    if "/health" not in command:
        problems.append("the HEALTHCHECK does not call /health")
    if re.search(r"\bcurl\b", command) and "curl" not in apt_packages(final):
        problems.append("the HEALTHCHECK uses curl, which the runtime stage does not install")
    return problems, "HEALTHCHECK calls /health" + (" with curl (installed)" if "curl" in command else "")


def check_docker_build_command(ctx):
    _, stages = ctx.dockerfile
    problems = []
    flags = ctx.facts.swift_flags
    if not flags:
        problems.append("no SWIFT_FLAGS in the Makefile")
    runs = [ins for s in stages[:-1] for ins in instructions(s, "RUN")]
    calls = [m.group(1) for ins in runs for m in re.finditer(r"swift build((?:\s+(?:-[\w-]+|[\w.-]+))*)", ins.args)]
    if not any(re.search(r"-c\s+release", c) for c in calls):
        problems.append("no `swift build -c release` in a build stage")
    for call in calls:
        tokens = call.split()
        if " ".join(flags) not in " ".join(tokens):
            problems.append(f"`swift build{call}` lacks the Makefile's flags {' '.join(flags)}")
        extra = [t for t in tokens if t not in flags and t not in ("-c", "release", "--show-bin-path")]
        if extra:
            problems.append(f"`swift build{call}` adds flags `make build` does not use: {' '.join(extra)}")
    build_text = "\n".join(ins.text() for s in stages[:-1] for ins in s["instructions"])
    for exe in ctx.facts.executables:
        if not re.search(rf"(?<![\w-]){re.escape(exe)}(?![\w-])", build_text):
            problems.append(f"executable {exe} (Package.swift) is not copied out of the build")
    return problems, f"`swift build -c release {' '.join(flags)}` (Makefile SWIFT_FLAGS); executables {', '.join(ctx.facts.executables)} copied"


def check_docker_librdkafka(ctx):
    global_args, stages = ctx.dockerfile
    every = global_args + [ins for s in stages for ins in s["instructions"]]
    args = {}
    for ins in every:
        if ins.keyword == "ARG":
            for key, value in parse_kv(ins.args):
                args[key] = value
    problems = []
    version = args.get("LIBRDKAFKA_VERSION")
    if not version:
        problems.append("no ARG LIBRDKAFKA_VERSION with a default")
    elif version_tuple(version) < MIN_LIBRDKAFKA:
        problems.append(f"librdkafka {version} is older than {'.'.join(map(str, MIN_LIBRDKAFKA))}")
    if "LIBRDKAFKA_SHA256" not in args:
        problems.append("no ARG LIBRDKAFKA_SHA256 (the release tarball's checksum)")
    elif args["LIBRDKAFKA_SHA256"] not in (None, ""):
        problems.append("ARG LIBRDKAFKA_SHA256 has a default: it must be a required build argument")
    runs = "\n".join(ins.args for ins in every if ins.keyword == "RUN")
    if not re.search(r'test -n "?\$\{?LIBRDKAFKA_SHA256', runs):
        problems.append("the build does not stop when LIBRDKAFKA_SHA256 is missing")
    if not re.search(r"LIBRDKAFKA_SHA256\}?\s+\S+\"?\s*\|\s*sha256sum -c", runs):
        problems.append("the tarball is not verified with sha256sum -c against LIBRDKAFKA_SHA256")
    if not re.search(r"librdkafka/archive/refs/tags/v\$\{?LIBRDKAFKA_VERSION", runs):
        problems.append("the download is not librdkafka's upstream release of LIBRDKAFKA_VERSION")
    if "pkg-config --modversion rdkafka" not in runs:
        problems.append("the build does not check which rdkafka pkg-config finds")
    return problems, f"librdkafka {version} (>= {'.'.join(map(str, MIN_LIBRDKAFKA))}) from the upstream tarball, sha256 a required build argument checked with sha256sum -c"


def check_docker_entrypoint(ctx):
    _, stages = ctx.dockerfile
    final = stage_of(stages)
    entry = instructions(final, "ENTRYPOINT")
    if not entry:
        return ["the final stage has no ENTRYPOINT"], ""
    text = entry[-1].args
    for ins in instructions(final, "COPY"):
        for body in ins.heredocs.values():
            if any(ins.args.rstrip().endswith(p) for p in re.findall(r"(/[\w./-]+)", text)):
                text += "\n" + body
    missing = [s for s in ctx.facts.services if not re.search(rf"\b{s}\b", text)]
    if missing:
        return [f"the ENTRYPOINT does not choose the service(s) {', '.join(missing)}"], ""
    return [], "ENTRYPOINT chooses the service by command: " + ", ".join(ctx.facts.services)


DOCKER_CHECKS = [check_docker_pinned, check_docker_non_root, check_docker_no_secrets, check_docker_runtime_libs,
                 check_docker_healthcheck, check_docker_build_command, check_docker_librdkafka, check_docker_entrypoint]


# ------------------------------------------------------------------------------------------
# Kubernetes: rendered objects of one target.

def render(kubectl, target):
    result = subprocess.run([kubectl, "kustomize", str(ROOT / TARGETS[target])], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"kubectl kustomize {TARGETS[target]} failed:\n{result.stderr.strip()}")
    import yaml
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def by_kind(docs, kind):
    return [d for d in docs if d.get("kind") == kind]


def named(docs, kind, name):
    for d in by_kind(docs, kind):
        if d.get("metadata", {}).get("name") == name:
            return d
    return None


def pod_spec(obj):
    return obj.get("spec", {}).get("template", {}).get("spec", {})


def containers(obj):
    return pod_spec(obj).get("containers") or []


def quantity(value):
    """CPU or memory quantity as a float (cores or bytes)."""
    text = str(value)
    units = {"m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
    m = re.fullmatch(r"([0-9.]+)([a-zA-Z]*)", text)
    if not m or (m.group(2) and m.group(2) not in units):
        raise ValueError(f"not a quantity: {value}")
    return float(m.group(1)) * units.get(m.group(2), 1)


def labels_match(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def service_container(deployment, service):
    for c in containers(deployment):
        if c.get("name") == service or (c.get("args") or [None])[0] == service:
            return c
    return None


def resolve_port(container, port):
    if isinstance(port, int):
        return port
    for p in container.get("ports") or []:
        if p.get("name") == port:
            return p.get("containerPort")
    return None


def env_value(container, name):
    for e in container.get("env") or []:
        if e.get("name") == name:
            return e.get("value")
    return None


def config_data(docs):
    data = {}
    for cm in by_kind(docs, "ConfigMap"):
        if cm["metadata"]["name"].startswith("switchboard-config"):
            data.update(cm.get("data") or {})
    return data


def check_k_validate(ctx, target, docs):
    import kubernetes_validate
    problems = []
    for doc in docs:
        for version in SCHEMA_VERSIONS:
            try:
                kubernetes_validate.validate(doc, version, True)
            except kubernetes_validate.ValidationError as error:
                where = "/".join(str(p) for p in error.path)
                problems.append(f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')} (Kubernetes {version}): {error.message} at {where or '/'}")
            except (kubernetes_validate.SchemaNotFoundError, kubernetes_validate.InvalidSchemaError) as error:
                problems.append(f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')} (Kubernetes {version}): {error}")
    return problems, f"{len(docs)} objects valid against the Kubernetes {', '.join(SCHEMA_VERSIONS)} schemas (strict)"


def check_k_deployments(ctx, target, docs):
    problems = []
    for service in ctx.facts.services:
        deployment = named(docs, "Deployment", f"switchboard-{service}")
        if deployment is None:
            problems.append(f"no Deployment switchboard-{service}")
            continue
        container = service_container(deployment, service)
        if container is None:
            problems.append(f"switchboard-{service}: no container running `{service}`")
            continue
        address = env_value(container, f"SWITCHBOARD_{service.upper()}_ADDR")
        port = ctx.facts.ports.get(service)
        if address is None:
            problems.append(f"switchboard-{service}: SWITCHBOARD_{service.upper()}_ADDR is not set (the default listens on 127.0.0.1 only)")
        else:
            host, _, text = address.rpartition(":")
            port = int(text) if text.isdigit() else None
            if host in ("127.0.0.1", "localhost", "::1"):
                problems.append(f"switchboard-{service}: listens on {address}: probes and the Service cannot reach loopback")
        ports = [p.get("containerPort") for p in container.get("ports") or []]
        if port not in ports:
            problems.append(f"switchboard-{service}: containerPort {ports} is not the port it listens on ({port})")
        for probe, path in (("readinessProbe", "/ready"), ("livenessProbe", "/health")):
            spec = container.get(probe)
            get = (spec or {}).get("httpGet")
            if not get:
                problems.append(f"switchboard-{service}: no {probe} (httpGet {path})")
                continue
            if get.get("path") != path:
                problems.append(f"switchboard-{service}: {probe} on {get.get('path')}, not {path}")
            if resolve_port(container, get.get("port")) != port:
                problems.append(f"switchboard-{service}: {probe} port {get.get('port')} is not the service's port {port}")
    return problems, f"a Deployment per service ({', '.join(ctx.facts.services)}), readiness /ready and liveness /health on its listen port"


def check_k_resources(ctx, target, docs):
    problems = []
    for obj in by_kind(docs, "Deployment") + by_kind(docs, "Job"):
        for c in containers(obj) + (pod_spec(obj).get("initContainers") or []):
            where = f"{obj['kind']}/{obj['metadata']['name']}/{c.get('name')}"
            resources = c.get("resources") or {}
            for kind in ("requests", "limits"):
                for resource in ("cpu", "memory"):
                    if resource not in (resources.get(kind) or {}):
                        problems.append(f"{where}: no {kind}.{resource}")
            try:
                for resource in ("cpu", "memory"):
                    request, limit = (resources.get("requests") or {}).get(resource), (resources.get("limits") or {}).get(resource)
                    if request is not None and limit is not None and quantity(request) > quantity(limit):
                        problems.append(f"{where}: {resource} request {request} above its limit {limit}")
            except ValueError as error:
                problems.append(f"{where}: {error}")
    return problems, "every container of the Deployments and the Job has cpu and memory requests and limits (request <= limit)"


def check_k_pdbs(ctx, target, docs):
    problems = []
    pdbs = by_kind(docs, "PodDisruptionBudget")
    for deployment in by_kind(docs, "Deployment"):
        labels = deployment["spec"]["template"].get("metadata", {}).get("labels") or {}
        matching = [p for p in pdbs if labels_match((p["spec"].get("selector") or {}).get("matchLabels"), labels)]
        name = deployment["metadata"]["name"]
        if len(matching) != 1:
            problems.append(f"{name}: {len(matching)} PodDisruptionBudgets select its pods (want 1)")
            continue
        spec = matching[0]["spec"]
        if str(spec.get("maxUnavailable", "")) in ("0", "0%"):
            problems.append(f"{name}: its PodDisruptionBudget allows no disruption (drains would hang)")
    return problems, "one PodDisruptionBudget per Deployment, allowing a disruption"


def hpa_for(docs, deployment):
    for hpa in by_kind(docs, "HorizontalPodAutoscaler"):
        ref = hpa["spec"].get("scaleTargetRef") or {}
        if ref.get("kind") == "Deployment" and ref.get("name") == deployment:
            return hpa
    return None


def hpa_metric_names(hpa):
    names, cpu = [], False
    for metric in hpa["spec"].get("metrics") or []:
        kind = metric.get("type")
        if kind == "Resource" and (metric.get("resource") or {}).get("name") == "cpu":
            cpu = True
        if kind == "External":
            names.append(((metric.get("external") or {}).get("metric") or {}).get("name"))
        if kind == "Pods":
            names.append(((metric.get("pods") or {}).get("metric") or {}).get("name"))
    return names, cpu


def check_k_hpas(ctx, target, docs):
    problems, notes = [], []
    gateway = hpa_for(docs, "switchboard-gateway")
    if gateway is None:
        problems.append("no HorizontalPodAutoscaler for switchboard-gateway")
    elif not hpa_metric_names(gateway)[1]:
        problems.append("the gateway's HorizontalPodAutoscaler does not scale on cpu")
    partitions = config_data(docs).get("TOPICS_CONVERSATIONS_PARTITIONS")
    used = []
    for service in REACTORS:
        deployment = f"switchboard-{service}"
        hpa = hpa_for(docs, deployment)
        if hpa is None:
            problems.append(f"no HorizontalPodAutoscaler for {deployment}")
            continue
        names, cpu = hpa_metric_names(hpa)
        lag = ctx.facts.lag_metric(service)
        if lag:
            if lag not in names:
                problems.append(f"{deployment}'s HorizontalPodAutoscaler does not scale on its consumer lag {lag} (exported by {ctx.facts.metrics[lag][1]})")
            else:
                used.append(f"{service}: {lag}")
        else:
            notes.append(f"{service}: no lag metric exported for its group, autoscaled on cpu")
            if not cpu:
                problems.append(f"{deployment}'s HorizontalPodAutoscaler has neither a lag metric (none exported) nor cpu")
        spec = hpa["spec"]
        if spec.get("minReplicas", 1) > spec.get("maxReplicas", 0):
            problems.append(f"{deployment}: minReplicas above maxReplicas")
        if partitions and str(partitions).isdigit() and spec.get("maxReplicas", 0) > int(partitions):
            problems.append(f"{deployment}: maxReplicas {spec['maxReplicas']} above the conversation topic's {partitions} partitions")
    for hpa in by_kind(docs, "HorizontalPodAutoscaler"):
        names, _ = hpa_metric_names(hpa)
        for name in names:
            if name not in ctx.facts.metrics:
                problems.append(f"{hpa['metadata']['name']}: metric {name} is exported by no Swift source (Counter/Gauge/Recorder labels)")
        if hpa["spec"]["scaleTargetRef"]["name"] in (d["metadata"]["name"] for d in by_kind(docs, "Deployment")):
            target_deployment = named(docs, "Deployment", hpa["spec"]["scaleTargetRef"]["name"])
            if "replicas" in target_deployment["spec"]:
                problems.append(f"{target_deployment['metadata']['name']} sets replicas while its HorizontalPodAutoscaler owns them (each apply would reset the count)")
        else:
            problems.append(f"{hpa['metadata']['name']} scales a Deployment that is not rendered")
    return problems, "autoscalers: gateway on cpu; reactors on consumer lag (" + ("; ".join(used) or "none exported") + ")" + ("".join(f"\n       note: {n}" for n in notes))


def check_k_topics_job(ctx, target, docs):
    for job in by_kind(docs, "Job"):
        for c in containers(job):
            text = " ".join((c.get("command") or []) + (c.get("args") or []))
            if "--create" in text and all(t in text for t in ctx.facts.topics):
                if pod_spec(job).get("restartPolicy") not in ("OnFailure", "Never"):
                    return [f"Job {job['metadata']['name']}: restartPolicy must be OnFailure or Never"], ""
                return [], f"Job {job['metadata']['name']} creates the topics {', '.join(ctx.facts.topics)}"
    return [f"no Job creates the topics {', '.join(ctx.facts.topics)}"], ""


def check_k_ingress(ctx, target, docs):
    problems = []
    backends = {}
    for ingress in by_kind(docs, "Ingress"):
        for rule in ingress["spec"].get("rules") or []:
            for path in (rule.get("http") or {}).get("paths") or []:
                service = (path.get("backend") or {}).get("service") or {}
                backends.setdefault(service.get("name"), []).append((rule.get("host"), service.get("port") or {}))
    for service in ("gateway", "hilqueue"):
        name = f"switchboard-{service}"
        if name not in backends:
            problems.append(f"no Ingress routes to the Service {name}")
            continue
        svc = named(docs, "Service", name)
        deployment = named(docs, "Deployment", name)
        if svc is None:
            problems.append(f"the Ingress routes to {name}, but no such Service")
            continue
        labels = (deployment or {}).get("spec", {}).get("template", {}).get("metadata", {}).get("labels") or {}
        if not labels_match(svc["spec"].get("selector"), labels):
            problems.append(f"the Service {name} does not select the pods of the Deployment {name}")
        container = service_container(deployment, service) if deployment else None
        for host, port in backends[name]:
            match = [p for p in svc["spec"].get("ports") or [] if p.get("name") == port.get("name") or p.get("port") == port.get("number")]
            if not match:
                problems.append(f"the Ingress ({host}) names port {port} of {name}, which the Service lacks")
                continue
            target_port = match[0].get("targetPort", match[0].get("port"))
            if container is not None and resolve_port(container, target_port) not in [p.get("containerPort") for p in container.get("ports") or []]:
                problems.append(f"the Service {name}'s targetPort {target_port} is no port of its container")
    for ingress in by_kind(docs, "Ingress"):
        for rule in ingress["spec"].get("rules") or []:
            for path in (rule.get("http") or {}).get("paths") or []:
                for internal in INTERNAL_ROUTES:
                    if path_matches(path.get("path") or "/", path.get("pathType"), internal):
                        problems.append(f"the Ingress ({rule.get('host')}) exposes {internal} through {path.get('pathType')} {path.get('path')} (it stays inside the cluster, docs/SECURITY.md)")
    hosts = sorted({h for values in backends.values() for h, _ in values if h})
    return problems, "Ingress routes to the gateway and HILQueue (the inbox) Services, which select their pods, and not " + ", ".join(INTERNAL_ROUTES) + ": " + ", ".join(hosts)


INTERNAL_ROUTES = ["/health", "/ready", "/metrics"]


def path_matches(path, path_type, request):
    """Whether an Ingress path of that type takes the request path."""
    if path_type == "Exact":
        return path == request
    if path_type == "Prefix":
        prefix = [p for p in path.split("/") if p]
        return prefix == [p for p in request.split("/") if p][:len(prefix)]
    return request.startswith(path)  # ImplementationSpecific: assume a plain string prefix


def secret_refs(docs):
    refs = set()
    for obj in by_kind(docs, "Deployment") + by_kind(docs, "Job"):
        spec = pod_spec(obj)
        for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
            for e in c.get("env") or []:
                ref = (e.get("valueFrom") or {}).get("secretKeyRef")
                if ref:
                    refs.add(ref.get("name"))
            for e in c.get("envFrom") or []:
                if e.get("secretRef"):
                    refs.add(e["secretRef"].get("name"))
        for v in spec.get("volumes") or []:
            if v.get("secret"):
                refs.add(v["secret"].get("secretName"))
    for ingress in by_kind(docs, "Ingress"):
        for tls in ingress["spec"].get("tls") or []:
            refs.add(tls.get("secretName"))
    return refs


def check_k_secrets(ctx, target, docs):
    problems = []
    for secret in by_kind(docs, "Secret"):
        name = secret["metadata"]["name"]
        values = list((secret.get("stringData") or {}).values())
        for value in (secret.get("data") or {}).values():
            try:
                values.append(base64.b64decode(value).decode("utf-8", "replace"))
            except (ValueError, TypeError):
                values.append(str(value))
        if target != "dev":
            if values:
                problems.append(f"Secret {name} carries data in {target}: Secrets are created by the operator, referenced by name")
        elif any(not PLACEHOLDER.search(v) for v in values):
            problems.append(f"Secret {name} in dev holds a value that is not an obvious placeholder")
    for obj in by_kind(docs, "Deployment") + by_kind(docs, "Job"):
        for c in containers(obj) + (pod_spec(obj).get("initContainers") or []):
            for e in c.get("env") or []:
                if SECRET_NAME.search(e.get("name", "")) and "value" in e:
                    problems.append(f"{obj['metadata']['name']}/{c.get('name')}: {e['name']} is a literal value, not a secretKeyRef")
    for cm in by_kind(docs, "ConfigMap"):
        for key, value in (cm.get("data") or {}).items():
            if SECRET_NAME.search(key) or PRIVATE_MATERIAL.search(str(value)):
                problems.append(f"ConfigMap {cm['metadata']['name']}: {key} looks like a secret")
    for name in sorted(n for n in secret_refs(docs) if n):
        if name not in ctx.facts.readme:
            problems.append(f"Secret {name} is referenced but deploy/README.md does not say what it holds")
    return problems, "no Secret with data" + (" (dev: placeholders only)" if target == "dev" else "") + "; secrets only by reference: " + ", ".join(sorted(n for n in secret_refs(docs) if n))


def check_k_security(ctx, target, docs):
    problems = []
    for obj in by_kind(docs, "Deployment") + by_kind(docs, "Job"):
        spec = pod_spec(obj)
        pod = spec.get("securityContext") or {}
        for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
            where = f"{obj['metadata']['name']}/{c.get('name')}"
            sc = c.get("securityContext") or {}
            if not sc.get("runAsNonRoot", pod.get("runAsNonRoot")):
                problems.append(f"{where}: runAsNonRoot is not true")
            if sc.get("runAsUser", pod.get("runAsUser")) == 0:
                problems.append(f"{where}: runAsUser 0")
            if sc.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{where}: allowPrivilegeEscalation is not false")
            if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
                problems.append(f"{where}: capabilities are not dropped (drop: [ALL])")
            if ((sc.get("seccompProfile") or pod.get("seccompProfile") or {}).get("type")) not in ("RuntimeDefault", "Localhost"):
                problems.append(f"{where}: no RuntimeDefault seccomp profile")
            image = c.get("image", "")
            last = image.split("@")[0].rsplit("/", 1)[-1]
            if "@" not in image and (":" not in last or last.endswith(":latest")):
                problems.append(f"{where}: image {image} is not pinned (no tag, or :latest)")
    return problems, "pods run as non-root, no privilege escalation, capabilities dropped, seccomp RuntimeDefault, images tagged"


def check_k_namespaces(ctx, target, docs):
    problems = []
    cluster_scoped = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "PriorityClass", "StorageClass"}
    if target == "base":
        for d in docs:
            if d.get("metadata", {}).get("namespace"):
                problems.append(f"{d['kind']}/{d['metadata']['name']} has a namespace in the base")
        return problems, "the base sets no namespace"
    namespaces = [d["metadata"]["name"] for d in by_kind(docs, "Namespace")]
    if len(namespaces) != 1:
        return [f"{len(namespaces)} Namespace objects (want the overlay's one)"], ""
    for d in docs:
        if d["kind"] not in cluster_scoped and d.get("metadata", {}).get("namespace") != namespaces[0]:
            problems.append(f"{d['kind']}/{d['metadata']['name']} is not in namespace {namespaces[0]}")
    return problems, f"everything in namespace {namespaces[0]}"


K8S_CHECKS = [check_k_validate, check_k_deployments, check_k_resources, check_k_pdbs, check_k_hpas,
              check_k_topics_job, check_k_ingress, check_k_secrets, check_k_security, check_k_namespaces]


def check_overlays_differ(ctx, rendered):
    dev, prod = rendered.get("dev"), rendered.get("prod")
    if dev is None or prod is None:
        return ["dev or prod did not render"], ""
    problems = []

    def hosts(docs):
        return sorted(r.get("host") for i in by_kind(docs, "Ingress") for r in i["spec"].get("rules") or [])

    def bounds(docs):
        return sorted((h["metadata"]["name"], h["spec"].get("minReplicas"), h["spec"]["maxReplicas"]) for h in by_kind(docs, "HorizontalPodAutoscaler"))

    def requests(docs):
        return sorted((d["metadata"]["name"], str(c.get("resources"))) for d in by_kind(docs, "Deployment") for c in containers(d))

    def replicas(docs):
        return sorted((d["metadata"]["name"], d["spec"].get("replicas")) for d in by_kind(docs, "Deployment"))

    for what, f in (("ingress hosts", hosts), ("autoscaling bounds", bounds), ("resources", requests), ("replicas", replicas)):
        if f(dev) == f(prod):
            problems.append(f"dev and prod have the same {what}")
    if set(hosts(dev)) & set(hosts(prod)):
        problems.append("dev and prod share an ingress host")
    return problems, "dev and prod differ in replicas, resources, autoscaling bounds and ingress hosts"


# ------------------------------------------------------------------------------------------

class Context:
    def __init__(self, facts, dockerfile_text, dockerignore):
        self.facts = facts
        self.dockerfile_text = dockerfile_text
        self.dockerfile = parse_dockerfile(dockerfile_text)
        self.dockerignore = dockerignore

    def with_dockerfile(self, text):
        return Context(self.facts, text, self.dockerignore)


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


def find_kubectl(explicit):
    kubectl = explicit or os.environ.get("KUBECTL") or shutil.which("kubectl")
    if not kubectl:
        sys.exit("check-deploy: kubectl not found: run scripts/install-test-deps.sh deploy (Debian package kubernetes-client)")
    return kubectl


def kubectl_version(kubectl):
    out = subprocess.run([kubectl, "version", "--client"], capture_output=True, text=True).stdout
    version = re.search(r'GitVersion:"(v[\w.+-]+)', out) or re.search(r"Client Version: (v\d[\w.+-]*)", out)
    kustomize = re.search(r"Kustomize Version: (v[\w.]+)", out)
    return (version.group(1) if version else "unknown") + (f", kustomize {kustomize.group(1)}" if kustomize else ", built-in kustomize")


# ------------------------------------------------------------------------------------------
# Self-test: every check must reject a deliberately broken variant.

def docker_variants(text):
    def sub(old, new, count=1):
        if old not in text:
            raise AssertionError(f"self-test: the Dockerfile no longer contains {old!r}: update the self-test")
        return text.replace(old, new, count)

    runtime_from = re.search(r"^FROM (debian:\S+) AS runtime", text, re.M)
    build_from = re.search(r"^FROM (swift:\S+) AS build", text, re.M)
    if not runtime_from or not build_from:
        raise AssertionError("self-test: the Dockerfile's FROM lines changed shape: update the self-test")
    return [
        ("FROM debian:latest", check_docker_pinned, sub(runtime_from.group(0), "FROM debian:latest AS runtime")),
        ("FROM debian (bare name)", check_docker_pinned, sub(runtime_from.group(0), "FROM debian AS runtime")),
        ("FROM debian:bookworm-slim (a moving tag)", check_docker_pinned, sub(runtime_from.group(0), "FROM debian:bookworm-slim AS runtime")),
        ("FROM swift:6.0.3-bookworm (another toolchain)", check_docker_pinned, sub(build_from.group(0), "FROM swift:6.0.3-bookworm AS build")),
        ("no USER in the final stage", check_docker_non_root, sub("USER 10001:10001\n", "")),
        ("USER root", check_docker_non_root, sub("USER 10001:10001", "USER root")),
        ("USER by name", check_docker_non_root, sub("USER 10001:10001", "USER switchboard")),
        ("ENV with a token", check_docker_no_secrets, sub("WORKDIR /app\n", "WORKDIR /app\nENV SWITCHBOARD_TOKEN=eyJhbGciOiJIUzI1NiJ9.x.y\n")),
        ("ARG password with a default", check_docker_no_secrets, sub("ARG LIBRDKAFKA_SHA256\n", "ARG LIBRDKAFKA_SHA256\nARG DB_PASSWORD=hunter2\n")),
        ("database URL with a password", check_docker_no_secrets, sub("WORKDIR /app\n", "WORKDIR /app\nENV DB=postgres://app:hunter2@db/switchboard\n")),
        ("runtime without libpq5", check_docker_runtime_libs, sub(" libpq5 ", " ")),
        ("runtime without libcurl4", check_docker_runtime_libs, sub(" libcurl4 ", " ")),
        ("runtime with Debian's librdkafka1 instead of the built one", check_docker_runtime_libs,
         re.sub(r"^COPY --from=build \S*rdkafka\S* \S+\n", "", sub(" libpq5 ", " libpq5 librdkafka1 "), flags=re.M)),
        ("no HEALTHCHECK", check_docker_healthcheck, re.sub(r"^HEALTHCHECK .*\n", "", text, flags=re.M)),
        ("HEALTHCHECK NONE", check_docker_healthcheck, re.sub(r"^HEALTHCHECK .*\n", "HEALTHCHECK NONE\n", text, flags=re.M)),
        ("swift build without the Makefile's flags", check_docker_build_command,
         text.replace("swift build -c release --explicit-target-dependency-import-check error", "swift build -c release")),
        ("an executable not copied", check_docker_build_command, sub(" switchboard-hilqueue;", ";")),
        ("librdkafka 2.0.2", check_docker_librdkafka, sub("ARG LIBRDKAFKA_VERSION=2.11.1", "ARG LIBRDKAFKA_VERSION=2.0.2")),
        ("a default checksum", check_docker_librdkafka, sub("ARG LIBRDKAFKA_SHA256\n", "ARG LIBRDKAFKA_SHA256=" + "0" * 64 + "\n")),
        ("no sha256sum verification", check_docker_librdkafka, sub('echo "${LIBRDKAFKA_SHA256}  librdkafka.tar.gz" | sha256sum -c -', "true")),
        ("no ENTRYPOINT", check_docker_entrypoint, re.sub(r"^ENTRYPOINT .*\n", "", text, flags=re.M)),
    ]


def k8s_variants(docs):
    """(label, check, broken docs[, target the check runs as]) from the rendered prod output."""
    def variant(mutate):
        broken = copy.deepcopy(docs)
        mutate(broken)
        return broken

    def deployment(d, name):
        return named(d, "Deployment", f"switchboard-{name}")

    def first_container(d, name):
        return containers(deployment(d, name))[0]

    def drop_probes(d):
        for key in ("readinessProbe", "livenessProbe", "startupProbe"):
            first_container(d, "planner").pop(key, None)

    def wrong_path(d):
        first_container(d, "gateway")["readinessProbe"]["httpGet"]["path"] = "/health"

    def wrong_port(d):
        first_container(d, "executor")["livenessProbe"]["httpGet"]["port"] = 9999

    def loopback(d):
        for e in first_container(d, "verifier")["env"]:
            if e["name"] == "SWITCHBOARD_VERIFIER_ADDR":
                e["value"] = "127.0.0.1:8083"

    def no_limits(d):
        first_container(d, "hilqueue")["resources"].pop("limits")

    def no_pdb(d):
        d.remove(named(d, "PodDisruptionBudget", "switchboard-verifier"))

    def gateway_memory(d):
        named(d, "HorizontalPodAutoscaler", "switchboard-gateway")["spec"]["metrics"] = [
            {"type": "Resource", "resource": {"name": "memory", "target": {"type": "Utilization", "averageUtilization": 70}}}]

    def invented_metric(d):
        named(d, "HorizontalPodAutoscaler", "switchboard-executor")["spec"]["metrics"].append(
            {"type": "External", "external": {"metric": {"name": "switchboard_executor_lag_events"},
                                              "target": {"type": "AverageValue", "averageValue": "1000"}}})

    def planner_cpu_only(d):
        hpa = named(d, "HorizontalPodAutoscaler", "switchboard-planner")
        hpa["spec"]["metrics"] = [m for m in hpa["spec"]["metrics"] if m["type"] == "Resource"]

    def no_reactor_hpa(d):
        d.remove(named(d, "HorizontalPodAutoscaler", "switchboard-executor"))

    def too_many(d):
        named(d, "HorizontalPodAutoscaler", "switchboard-verifier")["spec"]["maxReplicas"] = 100

    def no_job(d):
        for job in by_kind(d, "Job"):
            d.remove(job)

    def no_inbox(d):
        ingress = by_kind(d, "Ingress")[0]
        ingress["spec"]["rules"] = [r for r in ingress["spec"]["rules"] if "hilqueue" not in str(r)]

    def dev_secret(d):
        d.append({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "switchboard-llm", "namespace": "switchboard-dev"},
                  "stringData": {"api-key": "sk-live-0123456789abcdefghijklmnop"}})

    def namespaced_base(d):
        for doc in d:
            doc["metadata"].pop("namespace", None)
        named(d, "Service", "switchboard-gateway")["metadata"]["namespace"] = "default"

    def public_metrics(d):
        ingress = by_kind(d, "Ingress")[0]
        ingress["spec"]["rules"][0]["http"]["paths"].append(
            {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "switchboard-gateway", "port": {"name": "http"}}}})

    def secret_with_data(d):
        d.append({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "switchboard-database", "namespace": "switchboard"},
                  "stringData": {"url": "postgres://switchboard:s3cret@db:5432/switchboard"}})

    def literal_database_url(d):
        for e in first_container(d, "executor")["env"]:
            if e["name"] == "DATABASE_URL":
                e.pop("valueFrom")
                e["value"] = "postgres://switchboard:s3cret@db:5432/switchboard"

    def root(d):
        pod_spec(deployment(d, "gateway"))["securityContext"]["runAsNonRoot"] = False
        first_container(d, "gateway").setdefault("securityContext", {})["runAsNonRoot"] = False

    def latest(d):
        first_container(d, "planner")["image"] = "registry.example.com/switchboard:latest"

    def typo(d):
        c = first_container(d, "gateway")
        c["readinesProbe"] = c.pop("readinessProbe")

    def wrong_type(d):
        deployment(d, "hilqueue")["spec"]["replicas"] = "two"

    def hpa_and_replicas(d):
        deployment(d, "planner")["spec"]["replicas"] = 3

    return [
        ("a Deployment without probes", check_k_deployments, variant(drop_probes)),
        ("readiness on /health", check_k_deployments, variant(wrong_path)),
        ("liveness on another port", check_k_deployments, variant(wrong_port)),
        ("a service listening on loopback", check_k_deployments, variant(loopback)),
        ("a container without limits", check_k_resources, variant(no_limits)),
        ("a Deployment without a PodDisruptionBudget", check_k_pdbs, variant(no_pdb)),
        ("the gateway autoscaled on memory", check_k_hpas, variant(gateway_memory)),
        ("an HPA metric no service exports", check_k_hpas, variant(invented_metric)),
        ("the planner not autoscaled on its lag", check_k_hpas, variant(planner_cpu_only)),
        ("a reactor without an autoscaler", check_k_hpas, variant(no_reactor_hpa)),
        ("maxReplicas above the partitions", check_k_hpas, variant(too_many)),
        ("replicas set under an autoscaler", check_k_hpas, variant(hpa_and_replicas)),
        ("no topics Job", check_k_topics_job, variant(no_job)),
        ("an Ingress without the inbox", check_k_ingress, variant(no_inbox)),
        ("an Ingress exposing /metrics (Prefix /)", check_k_ingress, variant(public_metrics)),
        ("a Secret with data in prod", check_k_secrets, variant(secret_with_data)),
        ("a dev Secret with a real-looking key", check_k_secrets, variant(dev_secret), "dev"),
        ("a namespace in the base", check_k_namespaces, variant(namespaced_base), "base"),
        ("DATABASE_URL as a literal", check_k_secrets, variant(literal_database_url)),
        ("a pod running as root", check_k_security, variant(root)),
        ("an image tagged latest", check_k_security, variant(latest)),
        ("a misspelt field (strict schema)", check_k_validate, variant(typo)),
        ("a field of the wrong type (schema)", check_k_validate, variant(wrong_type)),
    ]


def self_test(ctx, prod_docs):
    print("== self-test: each check must reject a broken variant")
    caught, missed = 0, []
    try:
        cases = [(label, check, ctx.with_dockerfile(text), None, None) for label, check, text in docker_variants(ctx.dockerfile_text)]
        cases += [(label, check, ctx, docs, (target or ["prod"])[0]) for label, check, docs, *target in k8s_variants(prod_docs)]
    except (AssertionError, KeyError, TypeError, IndexError, AttributeError) as error:
        print(f"FAIL self-test: could not build the broken variants: {error!r}")
        return 0, ["(variants)"]
    for label, check, variant_ctx, docs, target in cases:
        problems, _ = check(variant_ctx) if docs is None else check(variant_ctx, target, docs)
        if problems:
            caught += 1
            print(f"ok   caught {label} ({check.__name__}): {problems[0]}")
        else:
            missed.append(label)
            print(f"FAIL not caught: {label} ({check.__name__} passed it)")
    return caught, missed


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--self-test", action="store_true", help="run only the self-test")
    parser.add_argument("--kubectl", help="kubectl to render with (default $KUBECTL, else kubectl on PATH)")
    options = parser.parse_args()
    ensure_dependencies()
    import kubernetes_validate.version

    facts = Facts()
    missing = [what for what, value in (("services", facts.services), ("ports", facts.ports), ("executables", facts.executables),
                                         ("SWIFT_FLAGS", facts.swift_flags), ("topics", facts.topics), ("metrics", facts.metrics)) if not value]
    if missing:
        sys.exit(f"check-deploy: could not read {', '.join(missing)} from the sources")
    ctx = Context(facts, (ROOT / "Dockerfile").read_text(), (ROOT / ".dockerignore").read_text() if (ROOT / ".dockerignore").exists() else "")
    kubectl = find_kubectl(options.kubectl)
    print(f"check-deploy: kubectl {kubectl_version(kubectl)} ({kubectl}); kubernetes-validate {kubernetes_validate.version.__version__}, "
          f"schemas {', '.join(SCHEMA_VERSIONS)}; Swift toolchain {facts.toolchain or 'not found (the swift tag is checked for x.y.z only)'}")
    print(f"  from the sources: services {', '.join(f'{s}:{facts.ports.get(s)}' for s in facts.services)}; topics {', '.join(facts.topics)}; "
          f"lag metrics {', '.join(n for n in facts.metrics if 'lag' in n) or 'none'}")
    report = Report()
    rendered = {}

    if not options.self_test:
        print("== Dockerfile")
        for check in DOCKER_CHECKS:
            problems, summary = check(ctx)
            report.record(check.__name__.replace("check_docker_", "docker: ").replace("_", " "), problems, summary)
    for target in TARGETS:
        if options.self_test and target != "prod":
            continue
        if not options.self_test:
            print(f"== kustomize {TARGETS[target]}")
        try:
            rendered[target] = render(kubectl, target)
        except RuntimeError as error:
            report.record(f"{target}: render", [str(error)], "")
            continue
        if options.self_test:
            continue
        report.record(f"{target}: render", [], f"`kubectl kustomize` rendered {len(rendered[target])} objects")
        for check in K8S_CHECKS:
            problems, summary = check(ctx, target, rendered[target])
            report.record(f"{target}: " + check.__name__.replace("check_k_", "").replace("_", " "), problems, summary)
    if not options.self_test:
        print("== overlays")
        problems, summary = check_overlays_differ(ctx, rendered)
        report.record("overlays differ", problems, summary)

    caught, missed = (0, ["(prod did not render)"])
    if "prod" in rendered:
        caught, missed = self_test(ctx, rendered["prod"])
    print()
    if report.failed or missed:
        print(f"check-deploy: FAILED: {report.failed} of {report.passed + report.failed} checks failed; "
              f"self-test: {caught} broken variants caught, {len(missed)} not caught" + (f" ({', '.join(missed)})" if missed else ""))
        return 1
    checks = f"all {report.passed} checks passed; " if not options.self_test else ""
    print(f"check-deploy: {checks}self-test: all {caught} broken variants caught")
    return 0


if __name__ == "__main__":
    sys.exit(main())
