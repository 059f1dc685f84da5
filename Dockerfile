# syntax=docker/dockerfile:1.7
#
# One image with every Switchboard executable: the five services and the `switchboard` CLI.
#
#   docker build --build-arg LIBRDKAFKA_SHA256=<sha256 of librdkafka v2.11.1's tarball> -t switchboard:0.1.0 .
#   docker run --rm -e SWITCHBOARD_BOOTSTRAP=… -e DATABASE_URL=… switchboard:0.1.0 planner
#   docker run --rm switchboard:0.1.0 switchboard tools list --pack deploy/packs/retail.yaml
#
# deploy/README.md ("Deploying") says how to obtain the checksum. scripts/check-deploy.py
# (`make check-deploy`, part of `make test`) checks this file: pinned bases, non-root user, no
# secrets, runtime libraries, health check, the same build command as the Makefile.
#
# Base images are pinned by exact version tag. Release pipelines should also pin them by digest
# (FROM swift:6.3.1-bookworm@sha256:…), resolved once with `docker buildx imagetools inspect`,
# so a re-pushed tag cannot change what is built.

# ---------------------------------------------------------------------------------------------
# Build stage: the Swift toolchain (the same 6.3.1 as `swift --version` on the dev machines).
FROM swift:6.3.1-bookworm AS build

# librdkafka from the upstream release. Debian 12's librdkafka is 2.0.2: local builds and the
# development broker keep using it (scripts/install-deps.sh), production images link this one.
ARG LIBRDKAFKA_VERSION=2.11.1
# Required, no default: the sha256 of
# https://github.com/confluentinc/librdkafka/archive/refs/tags/v${LIBRDKAFKA_VERSION}.tar.gz
# (deploy/README.md says how to get it). The build stops without it, and on any mismatch.
ARG LIBRDKAFKA_SHA256

# Build dependencies: a C/C++ toolchain and the headers librdkafka's configure detects (TLS,
# SASL, zstd, lz4, zlib, curl for OIDC), and libpq's headers for the Postgres module.
# Not librdkafka-dev: the only rdkafka pkg-config finds is the one built below.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential ca-certificates curl libcurl4-openssl-dev liblz4-dev libpq-dev \
      libsasl2-dev libssl-dev libzstd-dev pkg-config zlib1g-dev \
 && rm -rf /var/lib/apt/lists/*

ENV PKG_CONFIG_PATH=/usr/local/lib/pkgconfig
WORKDIR /tmp/librdkafka
RUN test -n "${LIBRDKAFKA_SHA256}" \
      || { echo "LIBRDKAFKA_SHA256 is required: --build-arg LIBRDKAFKA_SHA256=<sha256 of librdkafka v${LIBRDKAFKA_VERSION}'s release tarball> (deploy/README.md, Deploying)" >&2; exit 1; } \
 && curl -fsSL -o librdkafka.tar.gz \
      "https://github.com/confluentinc/librdkafka/archive/refs/tags/v${LIBRDKAFKA_VERSION}.tar.gz" \
 && echo "${LIBRDKAFKA_SHA256}  librdkafka.tar.gz" | sha256sum -c - \
 && tar -xzf librdkafka.tar.gz --strip-components=1 \
 && ./configure --prefix=/usr/local \
 && make -j"$(nproc)" \
 && make install \
 && ldconfig \
 && test "$(pkg-config --modversion rdkafka)" = "${LIBRDKAFKA_VERSION}" \
 && cd / && rm -rf /tmp/librdkafka

WORKDIR /src
COPY . .
# The same command as `make build` (Makefile: SWIFT_FLAGS), in release like `make bench-turns`;
# then every executable product of Package.swift, the Swift runtime libraries and librdkafka
# are gathered under /out for the runtime stage.
RUN swift build -c release --explicit-target-dependency-import-check error \
 && bin="$(swift build -c release --explicit-target-dependency-import-check error --show-bin-path)" \
 && mkdir -p /out/bin /out/swift /out/rdkafka \
 && for exe in switchboard switchboard-gateway switchboard-planner switchboard-executor switchboard-verifier switchboard-hilqueue; do \
      install -m 0755 "$bin/$exe" /out/bin/; \
    done \
 && cp -a /usr/lib/swift/linux/*.so /out/swift/ \
 && cp -a /usr/local/lib/librdkafka.so* /out/rdkafka/

# ---------------------------------------------------------------------------------------------
# Runtime stage: slim Debian 12 (the point release of the dev machines) with the C libraries
# the executables link: libpq5, libcurl4, and librdkafka 2.11.1 copied from the build stage
# (with what it links: libssl3, libsasl2-2, libzstd1, liblz4-1, zlib1g), not Debian's librdkafka1.
FROM debian:12.11-slim AS runtime

# curl for the HEALTHCHECK (libcurl4 is a dependency of the services anyway); tini as PID 1
# (signals forwarded, children reaped: MCP servers over stdio are child processes).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates curl libcurl4 liblz4-1 libpq5 libsasl2-2 libssl3 libstdc++6 libzstd1 \
      tini tzdata zlib1g \
 && rm -rf /var/lib/apt/lists/*

COPY --from=build /out/rdkafka/ /usr/local/lib/
COPY --from=build /out/swift/ /usr/lib/swift/linux/
COPY --from=build /out/bin/ /app/bin/
# The domain packs (the services' default SWITCHBOARD_DOMAIN_PACK is deploy/packs/retail.yaml,
# relative to the working directory /app) and the demo agents (dev only, SWITCHBOARD_HIL_AGENTS).
COPY deploy/packs/ /app/deploy/packs/
COPY deploy/agents.yaml /app/deploy/agents.yaml

# Every executable resolves every library, and librdkafka is the one built above.
RUN echo /usr/lib/swift/linux > /etc/ld.so.conf.d/swift.conf \
 && ldconfig \
 && if ldd /app/bin/* | grep 'not found'; then exit 1; fi \
 && ldd /app/bin/switchboard-gateway | grep -q '=> /usr/local/lib/librdkafka.so.1 ' \
 && groupadd --system --gid 10001 switchboard \
 && useradd --system --uid 10001 --gid 10001 --home-dir /app --no-create-home --shell /usr/sbin/nologin switchboard

# `docker run IMAGE gateway|planner|executor|verifier|hilqueue [flags]` runs that service;
# `switchboard …` the CLI; anything else is executed as given.
COPY --chmod=0755 <<'EOF' /usr/local/bin/switchboard-entrypoint
#!/bin/sh
set -e
case "${1:-help}" in
  gateway|planner|executor|verifier|hilqueue)
    service=$1; shift
    exec "/app/bin/switchboard-$service" "$@" ;;
  switchboard)
    shift
    exec /app/bin/switchboard "$@" ;;
  help|-h|--help)
    echo "usage: IMAGE gateway|planner|executor|verifier|hilqueue [flags]  |  IMAGE switchboard <command>"
    echo "services read SWITCHBOARD_BOOTSTRAP, DATABASE_URL, … (deploy/README.md)"
    exit 0 ;;
  *)
    exec "$@" ;;
esac
EOF

# Docker's health check: GET /health of the service this container runs, on the port of its
# SWITCHBOARD_<SERVICE>_ADDR (default below). A container running the CLI has nothing to check.
COPY --chmod=0755 <<'EOF' /usr/local/bin/switchboard-healthcheck
#!/bin/sh
for cmdline in /proc/[0-9]*/cmdline; do
  exe=$(tr '\000' '\n' <"$cmdline" 2>/dev/null | head -n 1)
  case "$exe" in
    /app/bin/switchboard-gateway|/app/bin/switchboard-planner|/app/bin/switchboard-executor|/app/bin/switchboard-verifier|/app/bin/switchboard-hilqueue)
      service=${exe#/app/bin/switchboard-}
      upper=$(echo "$service" | tr 'a-z' 'A-Z')
      eval "addr=\${SWITCHBOARD_${upper}_ADDR:-}"
      host=${addr%:*}; port=${addr##*:}
      case "$host" in ""|0.0.0.0|"[::]"|::) host=127.0.0.1 ;; esac
      [ -n "$port" ] || exit 1
      exec curl -fsS --max-time 3 -o /dev/null "http://$host:$port/health" ;;
  esac
done
exit 0
EOF

# Listen on all interfaces inside the container, each service on its usual port (8080–8084,
# as on one machine); orchestrators may override these.
ENV SWITCHBOARD_GATEWAY_ADDR=0.0.0.0:8080 \
    SWITCHBOARD_PLANNER_ADDR=0.0.0.0:8081 \
    SWITCHBOARD_EXECUTOR_ADDR=0.0.0.0:8082 \
    SWITCHBOARD_VERIFIER_ADDR=0.0.0.0:8083 \
    SWITCHBOARD_HILQUEUE_ADDR=0.0.0.0:8084 \
    PATH=/app/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
EXPOSE 8080 8081 8082 8083 8084

WORKDIR /app
USER 10001:10001
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 CMD ["/usr/local/bin/switchboard-healthcheck"]
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/switchboard-entrypoint"]
CMD ["help"]
