# The lab's entry point. Every target goes through the `lab` CLI.
SHELL := /bin/bash
VENV  := .venv
LAB_CLI := $(VENV)/bin/lab
LAB   ?= local
MATRIX ?= matrices/demo.yaml
RUN   ?= results/latest
SEED  ?=
FULL  ?=
# The lab's own Debian packages; the scenarios' own (their apt_packages) come
# from `lab apt-packages` once the lab's venv exists.
APT_PACKAGES := wrk openssh-server iproute2 procps python3-venv python3-apt acl chromium

.PHONY: help setup lab-up lab-down install run report demo calibrate seed seeds lint check test

help: ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'
	@echo "  variables: LAB=$(LAB) MATRIX=$(MATRIX) RUN=$(RUN)"

setup: $(VENV)/.installed ## Controller environment: apt packages, uv, the lab CLI

$(VENV)/.installed: pyproject.toml
	@command -v apt-get >/dev/null || { echo "error: apt-get not found (the local lab needs Debian/Ubuntu)"; exit 1; }
	@[ "$$(id -u)" = 0 ] || { echo "error: must run as root (apt packages; the local lab creates network namespaces)"; exit 1; }
	@dpkg-query -W $(APT_PACKAGES) >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PACKAGES) >/dev/null; }
	@[ -x $(VENV)/bin/python ] || python3 -m venv $(VENV)
	@$(VENV)/bin/python -m pip install -q --disable-pip-version-check uv
	@$(VENV)/bin/uv pip install -q --python $(VENV)/bin/python -e '.[test]'
	@pkgs="$$($(LAB_CLI) apt-packages)"; dpkg-query -W $$pkgs >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$pkgs >/dev/null; }
	@touch $@
	@echo "setup done: $(LAB_CLI)"

lab-up: setup ## Provision the local lab (Terraform; root)
	@PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(LAB_CLI) up --lab $(LAB)

lab-down: setup ## Destroy the local lab; checks nothing is left
	@PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(LAB_CLI) down --lab $(LAB)

install: setup ## Install a matrix's environments without measuring: make install MATRIX=...
	@PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(LAB_CLI) install $(MATRIX) --lab $(LAB)

run: setup ## Run a matrix: make run MATRIX=matrices/demo.yaml
	@PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(LAB_CLI) run $(MATRIX) --lab $(LAB)

report: setup ## Write and print the report of a run: make report RUN=results/<run_id>
	@PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(LAB_CLI) report $(RUN)

demo: setup lab-up ## setup, lab-up, run matrices/demo.yaml, report
	@PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(LAB_CLI) run matrices/demo.yaml --lab $(LAB)
	@echo "report: $$(readlink -f results/latest)/report.md"

calibrate: setup lab-up ## Planted +5/+10 % costs next to A/A twins: writes calibration.json
	@PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(LAB_CLI) calibrate --lab $(LAB)

seed: setup lab-up ## One seed write-up, published vs measured: make seed SEED=000 [FULL=1]
	@[ -n "$(SEED)" ] || { echo "error: give SEED=000..004 (matrices/seeds/)"; exit 2; }
	@PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(LAB_CLI) seed $(SEED) --lab $(LAB) $(if $(FULL),--full)

seeds: setup lab-up ## Every seed in turn; writes results/seeds-<time>.md [FULL=1]
	@PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(LAB_CLI) seeds --lab $(LAB) $(if $(FULL),--full)

lint: setup ## Import contracts (lint-imports) and ruff
	@$(VENV)/bin/lint-imports
	@$(VENV)/bin/ruff check --quiet .

# Tests that need no lab run three at a time (most of their time is spent
# waiting on the processes they start), except those marked serial, which
# time something and run alone after them; the e2e tests share one lab and
# run alone, last.
PYTEST := PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(VENV)/bin/python -m pytest -q -ra
PARALLEL := -n 3 --dist loadfile

check: lint ## Lint and every test that needs no lab, in a few minutes: run it while you work
	@$(PYTEST) $(PARALLEL) -m "not e2e and not serial"
	@$(PYTEST) -m "serial and not e2e"

test: lint ## Every tier, the end-to-end lab included (root, Terraform), as CI runs it
	@DJLAB_TEST_STRICT=1 $(PYTEST) $(PARALLEL) -m "not e2e and not serial"
	@DJLAB_TEST_STRICT=1 $(PYTEST) -m "serial and not e2e"
	@DJLAB_TEST_STRICT=1 $(PYTEST) -m e2e
