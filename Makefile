# Ventriq: one entry point per job. `make demo` and `make test` set everything up on a fresh machine.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-training
OUT := out

.PHONY: setup build sets quantize demo test test-swift test-kernels-aarch64 test-python typecheck bench cohort calibration figures examples experiment export clean

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

# The Swift runtime in release mode (the command lines `ventriq` and `ventriq-quantize`).
build:
	swift build -c release --product ventriq
	swift build -c release --product ventriq-quantize

# The main job: score the bundled sample recording with the default (signed int8) model.
demo: build
	$(VENTRIQ) score $(SAMPLE) --model $(MODEL) --trusted-keys $(TRUSTED) --format text

# Calibration windows and the labelled held-out set, regenerated from the float model's own
# cohort config (no training checkpoint needed) -> out/sets.
sets: setup
	$(PY) -m ventriq_training.export --sets-from $(FLOAT_MODEL) --sets-dir $(OUT)/sets

# The bundled int8 model: calibrate, check the accuracy gate, sign with the development key.
quantize: build sets
	$(QUANTIZE) $(FLOAT_MODEL) --calibration $(OUT)/sets/calibration.safetensors \
	    --heldout $(OUT)/sets/heldout.safetensors --sign $(DEV_KEY) --output $(MODEL)

test: setup test-swift test-kernels-aarch64 test-python typecheck

# Swift tests; those that compare with Python (scipy, wfdb, the trainer) use the venv.
test-swift: setup
	VENTRIQ_PYTHON=$(CURDIR)/$(PY) swift test

# The C kernels natively and, cross-compiled, under qemu-aarch64 (NEON).
test-kernels-aarch64:
	bash scripts/test-kernels-aarch64.sh

# Latency, allocations, arena and RSS of the default model (a benchmark, not a test).
bench: build
	$(VENTRIQ) bench --model $(MODEL) --trusted-keys $(TRUSTED)
	$(VENTRIQ) bench --model $(FLOAT_MODEL) --allow-unsigned

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
