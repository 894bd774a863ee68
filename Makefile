# The two commands of README.md, and the pieces they are made of.
SHELL := /bin/bash
PY := .venv/bin/python

.PHONY: setup demo test test-fast helm-check services-up services-down bench bench-capacity bench-api bench-e2e smoke load api dagster mlflow lock clean

setup:            ## Debian packages, Python environment, JVM jars (idempotent)
	bash scripts/setup.sh

demo: setup       ## a real game day through the platform, on embedded defaults (leaves the services up)
	bash scripts/services.sh start
	$(PY) -m readiness_platform.cli demo

test: setup       ## every test, with PostgreSQL, Redis and Kafka started once for the run
	bash scripts/test.sh

test-fast: setup  ## the tests that need neither Spark nor the services
	$(PY) -m pytest -m "not spark and not slow and not services"

helm-check: setup ## the Helm chart, alert rules, dashboards, exporter: helm lint/template, kubeconform, promtool
	$(PY) -m pytest tests/helm -q

services-up:
	bash scripts/services.sh start

services-down:
	bash scripts/services.sh stop

bench: setup      ## streaming benchmark: prints latency and throughput figures
	$(PY) -m benchmarks.stream_bench

bench-capacity: setup  ## stream capacity: messages/s drained from a fixed backlog of the 2,000 events/s load
	bash scripts/services.sh start
	$(PY) -m benchmarks.stream_capacity

bench-api: setup  ## read-API benchmark: API vs Feast's feature server vs raw Redis, WebSocket push latency
	bash scripts/services.sh start
	$(PY) -m benchmarks.api_bench

bench-e2e: setup  ## end to end under load: feed -> stream -> online store -> API, Kafka vs landing, rate sweep
	bash scripts/services.sh start
	$(PY) -m benchmarks.e2e_bench

smoke: setup      ## the closer's smoke test ("the Helsley test") through the whole platform
	bash scripts/services.sh start
	$(PY) -m readiness_platform.cli smoke

load: setup       ## the load test: 25 pitchers x 100 events/s through Kafka, the stream, the API
	bash scripts/services.sh start
	$(PY) -m readiness_platform.cli load

api: setup        ## the read API and dashboard on http://127.0.0.1:8000 (issue a key: readiness keys issue)
	bash scripts/services.sh start
	$(PY) -m readiness_platform.cli api

mlflow: setup     ## the MLflow UI on http://127.0.0.1:5000 (registry: MLFLOW_TRACKING_URI or var/mlflow/mlflow.db)
	mkdir -p var/mlflow && .venv/bin/mlflow ui --backend-store-uri "$${MLFLOW_TRACKING_URI:-sqlite:///$$PWD/var/mlflow/mlflow.db}" \
	  --default-artifact-root "$$PWD/var/mlflow/artifacts" --host 127.0.0.1 --port 5000

lock:             ## refresh constraints.txt from the current environment
	{ echo "# Full lock of the Python environment the tests and the demo run in (pip freeze on Python 3.11)."; \
	  echo "# Regenerate with: make lock"; $(PY) -m pip freeze --exclude-editable; } > constraints.txt

clean:
	rm -rf var/landing var/landing.archive var/lakehouse var/checkpoints var/reports var/bench

dagster: setup    ## the Dagster UI on http://127.0.0.1:3000 (local storage under var/dagster)
	eval "$$($(PY) -m readiness_platform.cli dagster-home)" && .venv/bin/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000
