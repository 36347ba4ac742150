"""Randomly initialised models for latency benchmarks (export --random): deterministic, loadable,
the requested window, ONNX equal to the file, and sets of the model's window."""

from __future__ import annotations

import os
import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from safetensors.numpy import load_file

from ventriq_training.export import REQUIRED_CONFIG_FIELDS, export_random, export_sets, load_exported, main, random_checkpoint
from ventriq_training.models.ecg_vit import NAMED_CONFIGS

ROOT = Path(__file__).resolve().parents[2]


def test_random_checkpoint_is_deterministic_per_seed() -> None:
    a, b, c = random_checkpoint("compact", seed=3), random_checkpoint("compact", seed=3), random_checkpoint("compact", seed=4)
    for k, v in a["encoder_state"].items():
        assert torch.equal(v, b["encoder_state"][k]), k
    assert a["ridge"]["weight"] == b["ridge"]["weight"] and a["logistic"]["weight"] == b["logistic"]["weight"]
    assert not torch.equal(a["encoder_state"]["blocks.0.attn.qkv.weight"], c["encoder_state"]["blocks.0.attn.qkv.weight"])
    state = torch.random.get_rng_state()
    random_checkpoint("compact", seed=5)
    assert torch.equal(state, torch.random.get_rng_state()), "the global torch RNG must be left alone"


def test_random_checkpoint_sizes_and_windows() -> None:
    for size in ("compact", "tiny"):  # paper: the same code, 190 MB of weights
        cfg = NAMED_CONFIGS[size]
        enc = random_checkpoint(size)["encoder_config"]
        assert (enc["window_samples"], enc["embed_dim"], enc["depth"]) == (cfg.window_samples, cfg.embed_dim, cfg.depth)
    assert random_checkpoint("tiny", window_samples=5000)["encoder_config"]["window_samples"] == 5000
    with pytest.raises(ValueError, match="unknown model size"):
        random_checkpoint("huge")
    with pytest.raises(ValueError, match="does not divide"):
        random_checkpoint("compact", window_samples=2550)


def test_export_random_loads_and_onnx_matches(tmp_path: Path) -> None:
    model_path, onnx_path = export_random("compact", tmp_path, window_samples=5000, seed=1)
    assert model_path.name == "random-compact-5000-seed1.safetensors" and onnx_path.suffix == ".onnx"
    model, config = load_exported(model_path)
    assert set(REQUIRED_CONFIG_FIELDS) <= set(config)
    a = config["architecture"]
    assert (a["window_samples"], a["n_tokens"], a["embed_dim"]) == (5000, 600, 96)
    assert a["macs_per_window"] == replace(NAMED_CONFIGS["compact"], window_samples=5000).macs_per_window()
    assert (config["window"]["samples"], config["window"]["seconds"]) == (5000, 10.0)
    assert config["random_weights"]["seed"] == 1 and config["metrics"] == {}
    x = np.random.default_rng(0).standard_normal((1, 12, 5000)).astype(np.float32)
    with torch.no_grad():
        ref = [t.numpy() for t in model(torch.from_numpy(x))]
    got = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"]).run(None, {"ecg_preprocessed": x})
    for r, g in zip(ref, got):
        np.testing.assert_allclose(g, r, rtol=1e-4, atol=1e-4)


def test_sets_cover_a_window_longer_than_the_cohort_default(tmp_path: Path) -> None:
    model_path, _ = export_random("compact", tmp_path, window_samples=10000)
    _, config = load_exported(model_path)
    assert config["training_data"]["cohort"]["ecg"]["duration_s"] == 20.0
    calibration, heldout = export_sets(model_path, tmp_path / "sets", n_calibration=2, n_heldout=2)
    assert load_file(str(calibration))["windows"].shape == (2, 12, 10000)
    assert load_file(str(heldout))["recordings_mv"].shape == (2, 12, 10000)


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--random", "compact", "--out", str(tmp_path), "--name", "r"]) == 0
    assert capsys.readouterr().out.split() == [str(tmp_path / "r.safetensors"), str(tmp_path / "r.onnx")]
    assert main(["--random", "compact", "--window-samples", "2550", "--out", str(tmp_path)]) == 1
    with pytest.raises(SystemExit):
        main(["--sets-from", str(tmp_path / "r.safetensors"), "--sets-dir", str(tmp_path), "--seed", "2"])


def ventriq_binary() -> Path:
    """$VENTRIQ_BIN, else the release build, else the debug build (`make test` builds that first)."""
    if "VENTRIQ_BIN" in os.environ:
        return Path(os.environ["VENTRIQ_BIN"])
    for config in ("release", "debug"):
        if (ROOT / ".build" / config / "ventriq").is_file():
            return ROOT / ".build" / config / "ventriq"
    pytest.skip("ventriq not built (make build)")


def test_the_runtime_reads_a_random_model(tmp_path: Path) -> None:
    ventriq = ventriq_binary()
    model_path, _ = export_random("compact", tmp_path, window_samples=10000)
    out = subprocess.run([str(ventriq), "inspect", str(model_path)], capture_output=True, text=True, check=True).stdout
    assert "1200 tokens" in out and "10000 samples (20.0 s)" in out
    # From the repository root `bench` defaults to the bundled 10 s sample, too short for this
    # 20 s model: it falls back to synthetic beats and says so.
    bench = subprocess.run([str(ventriq), "bench", "--model", str(model_path), "--allow-unsigned", "--iterations", "10",
                            "--warmup", "1"], capture_output=True, text=True, cwd=ROOT)
    assert bench.returncode == 0, bench.stderr
    assert "synthetic beats (the bundled sample is shorter than this model's 10000-sample window)" in bench.stdout
    assert "allocations    0.00 per window" in bench.stdout
