# nasc: two commands from a fresh Debian 12 machine.
#   make search   installs what is missing, builds, and runs the default search
#   make test     installs what is missing, builds, and runs every test

SWIFT        ?= swift
APT_PACKAGES := llvm-dev libopenblas-dev dataset-fashion-mnist
SUDO         := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
NASC_DEBUG   := .build/debug/nasc
NASC         := .build/release/nasc

.PHONY: all deps build release test search specs clean help

all: build

help:
	@echo "make search   install dependencies, build, run the default search"
	@echo "make test     install dependencies, build, run all tests"
	@echo "make build    debug build (.build/debug/nasc)"
	@echo "make release  optimized build (.build/release/nasc)"
	@echo "make specs    run only the ir-specs golden tests"

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

test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --disable-swift-testing

specs: build
	$(SWIFT) test --filter IRSpecTests

# The search itself lands with the search issue; until then this builds the
# release binary and shows what nasc can do on a reference model.
search: release
	@echo "nasc search is not built yet; what nasc does today:"
	$(NASC) version
	$(NASC) verify ir-specs/models/*.nasir
	$(NASC) dump-ir --hash ir-specs/models/nasrl_child.nasir
	$(NASC) gradcheck ir-specs/autodiff/conv_bn_relu.nasir
	$(NASC) run ir-specs/run/train_steps.nasir --after train --steps 40 --lr 0.5 --batch 8

clean:
	rm -rf .build
