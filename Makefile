# Ventriq: one entry point per job. `make demo` and `make test` set everything up on a fresh machine.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-training
OUT := out

.PHONY: setup demo test test-python typecheck cohort calibration figures examples experiment export clean

setup: $(STAMP)

$(STAMP): training/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e "training[test]"
	touch $(STAMP)

MODEL := models/ventriq-compact.safetensors

# The main job (until the Swift runtime lands): score the bundled sample recordings with the
# default model (Python reference scorer), and plot a synthetic subject.
demo: setup
	$(PY) -m ventriq_training.score $(MODEL) examples/recordings/*.hea
	$(PY) -m ventriq_training.cohort.figure --subject 2 --n 200 --out $(OUT)/demo-subject.png
	@echo "demo: scored examples/recordings with $(MODEL); figure $(OUT)/demo-subject.png"

test: setup test-python typecheck

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
