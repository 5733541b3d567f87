# migboard: the two commands are `make run` and `make test`. Everything else is a step of those.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -eo pipefail -c
.DEFAULT_GOAL := help

# Where `make run` listens; MIGBOARD_ADDR in the environment works too.
ADDR ?= $(or $(MIGBOARD_ADDR),127.0.0.1:3000)

.PHONY: help setup build run test test-rust test-e2e security-smoke check-wasm wasm-size bench bench-events bench-crash bench-e2e fuzz clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-11s %s\n", $$1, $$2}'

setup: ## install missing prerequisites (apt, cargo-leptos, wasm-bindgen-cli, npm); idempotent
	@scripts/setup.sh

build: setup ## build the release site: server binary + hydration bundle in target/site
	@source scripts/env.sh && echo "==> building the release site (cargo leptos build --release --split)" \
	  && cargo leptos build --release --split && scripts/pack-split.py target/site \
	  && echo "==> building the node agent (the embedded fleet runs it)" && cargo build --release -p agent --bin migboard-agent

run: build ## build, then serve on http://$(ADDR)
	@echo "==> migboard on http://$(ADDR)  (Ctrl-C stops it)"
	@source scripts/env.sh && MIGBOARD_ADDR=$(ADDR) LEPTOS_SITE_ROOT=target/site MIGBOARD_DATA_DIR=$${MIGBOARD_DATA_DIR:-data} exec target/release/migboard

test: setup ## every test: release bundle, Rust crates, wasm32 check of `mig`, manifests, fuzz, Playwright
	@scripts/test.sh all

test-rust: setup ## Rust tests only
	@scripts/test.sh rust

test-e2e: build ## Playwright tests only (against the release build)
	@scripts/test.sh e2e

security-smoke: build ## probe the release server from outside with curl (headers, framing, redirects, limits, redaction)
	@scripts/test.sh smoke

check-wasm: setup ## check that the pure `mig` crate builds for wasm32-unknown-unknown
	@scripts/test.sh wasm

wasm-size: build ## print the shipped bundle sizes (raw and gzip), as recorded in BENCHMARKS.md
	@scripts/wasm-size.sh

bench: setup ## Rust benchmarks (criterion) of the `mig` rules and blueprint validation; numbers go in BENCHMARKS.md
	@source scripts/env.sh && cargo bench -p mig --bench rules --bench blueprint

fuzz: setup ## fuzz blueprint parse+validate for FUZZ_SECONDS (default 600), the link codec, mig-parted import and custom configs a third of that each
	@FUZZ_SECONDS=$${FUZZ_SECONDS:-600} scripts/fuzz.sh

bench-events: build ## SSE watchers (1k, 10k) on one deployment and GET /api/v1/fleet throughput against the release server
	@source scripts/env.sh && cargo bench -p server --bench events -- 1000 10000

bench-crash: build ## crash campaigns: SIGKILL the server, then the agent process, until 100 kills interrupted work each (about 5 + 8 min; BENCHMARKS.md)
	@source scripts/env.sh && cargo bench -p server --bench crash -- server 100 && cargo bench -p server --bench crash -- agent 100

bench-e2e: build ## browser benchmarks: planner drag latency on 8 GPUs, page load (requests, time to interactive at 0 and 100 ms latency); JSON, see BENCHMARKS.md
	@source scripts/env.sh && cd end2end && CI=1 npx playwright test --config playwright.bench.config.ts

clean: ## remove build outputs (keeps installed tools)
	@source scripts/env.sh && cargo clean && rm -rf end2end/test-results end2end/playwright-report
