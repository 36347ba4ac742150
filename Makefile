# Ventriq: one entry point per job. `make demo` and `make test` set everything up on a fresh machine.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-training
OUT := out

.PHONY: setup system-deps build sets quantize demo bench-stream test test-swift test-kernels-aarch64 test-python typecheck bench bench-scaling bench-rss cohort calibration figures examples experiment export clean

setup: $(STAMP)

$(STAMP): training/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e "training[test]"
	touch $(STAMP)

FLOAT_MODEL := models/ventriq-compact.safetensors
MODEL := models/ventriq-compact-int8.safetensors
TRUSTED := keys/trusted
DEV_KEY := keys/dev-signing/ventriq-dev.key
VENTRIQ := .build/release/ventriq
QUANTIZE := .build/release/ventriq-quantize
SAMPLE := examples/recordings/anterior_mi_00190.hea

# C libraries the runtime links: ALSA (libasound2-dev) for capture; installed when missing.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
system-deps:
	@pkg-config --exists alsa 2>/dev/null || { echo "installing libasound2-dev and pkg-config (ALSA capture)"; \
	    $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq libasound2-dev pkg-config; }

# The Swift runtime in release mode (the command lines `ventriq` and `ventriq-quantize`).
build: system-deps
	swift build -c release --product ventriq
	swift build -c release --product ventriq-quantize

# The main job: score the bundled sample recording with the default (signed int8) model, then
# stream it (replayed as fast as it scores) through the replay firmware profile.
demo: build
	$(VENTRIQ) score $(SAMPLE) --model $(MODEL) --trusted-keys $(TRUSTED) --format text
	$(VENTRIQ) stream --profile firmware-profiles/replay.toml --source replay:$(SAMPLE)@max --model $(MODEL) --trusted-keys $(TRUSTED)

# A 24-hour-equivalent replay through the whole stream path, as fast as possible: windows scored,
# drops (0 when unpaced), latency, allocations per window, RSS after start-up and at the end.
bench-stream: build
	mkdir -p $(OUT)
	$(VENTRIQ) stream --profile firmware-profiles/replay.toml --source replay:$(SAMPLE)@max --repeat 8640 \
	    --model $(MODEL) --trusted-keys $(TRUSTED) --count-allocations --output $(OUT)/bench-stream.jsonl
	tail -1 $(OUT)/bench-stream.jsonl

# Calibration windows and the labelled held-out set, regenerated from the float model's own
# cohort config (no training checkpoint needed) -> out/sets.
SETS := $(OUT)/sets/calibration.safetensors
sets: $(SETS)
$(SETS): $(FLOAT_MODEL) | setup
	$(PY) -m ventriq_training.export --sets-from $(FLOAT_MODEL) --sets-dir $(OUT)/sets

# The bundled int8 model: calibrate, check the accuracy gate, sign with the development key.
quantize: build sets
	$(QUANTIZE) $(FLOAT_MODEL) --calibration $(OUT)/sets/calibration.safetensors \
	    --heldout $(OUT)/sets/heldout.safetensors --sign $(DEV_KEY) --output $(MODEL)

test: setup system-deps test-swift test-kernels-aarch64 test-python typecheck

# Swift tests; those that compare with Python (scipy, wfdb, the trainer) use the venv.
test-swift: setup
	VENTRIQ_PYTHON=$(CURDIR)/$(PY) swift test

# The C kernels natively and, cross-compiled, under qemu-aarch64 (NEON).
test-kernels-aarch64:
	bash scripts/test-kernels-aarch64.sh

# Latency, allocations, arena and RSS of the default model, then Ventriq vs ONNX Runtime (fp32,
# int8 dynamic, int8 static QDQ) side by side on the same model and window (a benchmark, not a
# test) -> out/bench/side_by_side.{md,json,png}.
bench: build sets
	$(VENTRIQ) bench --model $(MODEL) --trusted-keys $(TRUSTED) --ops
	$(PY) benchmarks/side_by_side.py

# Latency vs window length (compact at 5, 10, 20 s) and vs model size (compact, tiny, paper) for
# Ventriq float32/int8 and ONNX Runtime fp32/int8 dynamic, batch 1, one thread, on models with
# random weights built, quantized and cached under out/bench/scaling/models (the first run
# quantizes paper: about 6 minutes on 2 cores) -> out/bench/scaling.{md,json,png}.
# SCALING_ARGS=--quick for a smoke run.
bench-scaling: build setup
	$(PY) benchmarks/scaling.py --ventriq $(VENTRIQ) --quantize $(QUANTIZE) $(SCALING_ARGS)

# Peak RSS of a process that embeds the library (examples/embed, `ventriq-embed`) against the
# budget model file + arena + 8 MiB, built dynamically, with --static-swift-stdlib and as a fully
# static executable (each in its own scratch path, .build-rss-*), on the bundled model and sample;
# then `ventriq bench`'s figure for contrast -> out/bench/rss.json. The first run builds twice
# from scratch (about 3 minutes on 2 cores). RSS_RUNS=N runs per figure (default 5).
bench-rss: build
	MODEL=$(MODEL) TRUSTED=$(TRUSTED) SAMPLE=$(SAMPLE) bash benchmarks/rss.sh

test-python: setup
	cd training && ../$(PY) -m pytest -q

typecheck: setup
	cd training && ../$(PY) -m mypy ventriq_training

# A full-size cohort on disk (10,000 subjects; about 1.5 minutes on 2 cores).
cohort: setup
	$(PY) -m ventriq_training.cohort --n 10000 --out $(OUT)/cohort

# The calibration report quoted in training/COHORT.md.
calibration: setup
	$(PY) -m ventriq_training.cohort --check --n 10000 --out training/results

figures: setup
	$(PY) -m ventriq_training.cohort.figure --subject 190 --n 400 --enrich 20 --out training/figures/cohort_subject.png

examples: setup
	$(PY) -m ventriq_training.cohort.examples --out examples/recordings

# The five-model comparison (default scale: about 45 minutes on 2 CPU cores) -> results/.
experiment: setup
	$(PY) -m ventriq_training.experiment --scale default --out results --work $(OUT)/experiment

# Export the best model (model 5) to models/, with golden vectors, ONNX and the quantizer's sets.
export: setup
	$(PY) -m ventriq_training.export --checkpoint $(OUT)/experiment/models/model5.pt --out models --name ventriq-compact --sets-dir $(OUT)/sets

clean:
	rm -rf $(OUT) $(VENV)

# Kernel efficiency against this core's peak (benchmarks/README.md).
.PHONY: bench-peak bench-kernels bench-callgrind

# The multiply-accumulate peak per kernel table, measured: instructions per cycle x MACs per
# instruction x clock (benchmarks/peak/peak_probe.c; --json for scripts).
bench-peak:
	mkdir -p .build
	$(CC) -O2 -Wall -Wextra benchmarks/peak/peak_probe.c -o .build/peak_probe
	.build/peak_probe

# Every GEMM at the default model's shapes per table: GMAC/s, MAC/cycle, % of peak
# -> out/bench/kernels.json.
bench-kernels:
	bash benchmarks/kernels.sh

# Instructions per kernel call (valgrind --tool=callgrind; reference and avx2 tables: valgrind
# runs no AVX-512 or AVX-VNNI) -> out/bench/callgrind.{txt,json}. Compare kernel versions with
# benchmarks/callgrind.sh --baseline OLD.json.
bench-callgrind:
	bash benchmarks/callgrind.sh
