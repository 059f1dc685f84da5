# The two commands of the README. Both install missing Debian packages first.
SWIFT_FLAGS := --explicit-target-dependency-import-check error

.PHONY: up test test-unit build deps clean bench-turns eval bench-llm check-deploy check-observability soak

up: build
	scripts/up.sh

test: deps
	scripts/install-test-deps.sh
	scripts/test.sh

# The tests that need no broker, no Postgres and no service processes (seconds, no set-up).
# Everything else is an integration test and runs in `make test`.
UNIT_TARGETS := JSONTests|AuthTests|PrivacyTests|EvaluationTests|SwitchboardCLITests|JSONSchemaTests|EventsTests|DomainPackTests|PlannerTests|LLMTests|ModelRouterTests|VerifierTests|ServiceRuntimeTests|ToolRuntimeTests|RuleExpressionsTests|MCPBindingTests
UNIT_SUITES := GatewayValidationRouteTests|ConversationStreamsTests|MessageValidationTests|ReplyWaitersTests|ChunkerTests|FenceTests|RerankerTests|LoaderTests|KnowledgeLogTests
test-unit: deps
	swift build --build-tests $(SWIFT_FLAGS)
	env -u DATABASE_URL swift test --skip-build --filter '^($(UNIT_TARGETS))\.|\.($(UNIT_SUITES))(/|$$)'

build: deps
	swift build $(SWIFT_FLAGS)

# Switchboard and the LangGraph baseline, same turn, same machine, one run (docs/BENCHMARKS.md).
bench-turns: deps
	scripts/bench-turns.sh

# The scenario suites through the real services (docs/EVALUATION.md); BRAIN=local for the
# offline small model, FAULTS=all for the chaos run.
eval: deps
	scripts/eval.sh

# Both suites with the offline small model as the brain: first-attempt valid decisions,
# repairs, fallbacks, answers cut at the token limit, tokens, model time (docs/BENCHMARKS.md).
bench-llm: deps
	BRAIN=local scripts/eval.sh || echo "bench-llm: some thresholds were missed (the table above says which)"

# The Dockerfile's rules and the Kubernetes manifests (deploy/k8s) rendered and validated
# against the Kubernetes schemas, with a self-test of every rule; no Docker, no cluster.
check-deploy:
	scripts/install-test-deps.sh deploy
	python3 scripts/check-deploy.py

# The monitoring files (deploy/observability): every metric a rule or panel names is one the
# services export, alerts with for/severity/runbook, the scrape jobs against deploy/k8s and the
# default ports, the dashboards' structure; promtool's checks and rule tests; a self-test of each.
check-observability:
	scripts/install-test-deps.sh observability
	python3 scripts/check-observability.py

# The whole platform at a steady rate for 10 minutes (SOAK_SECONDS, SOAK_RATE): memory, file
# descriptors and database connections of every service sampled, their slopes printed, and the
# consumer lag must drain at the end (scripts/soak.py; docs/BENCHMARKS.md).
soak: build
	python3 scripts/soak.py

deps:
	scripts/install-deps.sh

clean:
	rm -rf .build .run
