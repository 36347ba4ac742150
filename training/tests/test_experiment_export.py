"""A tiny end-to-end run: train, probe, export, reload; golden vectors and ONNX agree with the file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from ventriq_training.experiment import main as experiment_main
from ventriq_training.export import REQUIRED_CONFIG_FIELDS, export_golden, export_model, export_onnx, export_sets, load_exported
from ventriq_training.models.ecg_vit import ECGViT, ECGViTConfig
from ventriq_training.preprocess import PreprocessConfig, preprocess
from ventriq_training.readout import fit_ridge  # noqa: F401  (import check: read-outs ship with training)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("exp")
    assert experiment_main(["--scale", "test", "--out", str(base / "results"), "--work", str(base / "work"), "--models", "1,5"]) == 0
    return base / "results", base / "work"


def test_experiment_writes_results(run: tuple[Path, Path]) -> None:
    results, work = run
    report = json.loads((results / "experiment.json").read_text())
    assert set(report["results"]) == {"1 ECG only (MAE)", "5 TCL 4D (ED+ES)"}
    assert {"lvef_pct", "rvef_pct", "co_l_min", "mean_r2", "af"} <= set(report["results"]["5 TCL 4D (ED+ES)"])
    assert "| Model |" in (results / "table.md").read_text()
    assert (results / "figure.png").read_bytes()[:4] == b"\x89PNG"
    assert "mae epoch 1/1" in (results / "experiment.log").read_text()
    assert (work / "models" / "model5.pt").is_file()


def test_export_reload_reproduces_the_checkpoint(run: tuple[Path, Path], tmp_path: Path) -> None:
    _, work = run
    ckpt = torch.load(work / "models" / "model5.pt", weights_only=False)
    path = export_model(work / "models" / "model5.pt", tmp_path, "tiny-test")
    model, config = load_exported(path)
    assert set(REQUIRED_CONFIG_FIELDS) <= set(config)
    assert config["preprocessing"]["highpass_padlen"] == 15 and config["window"]["samples"] == 2500

    encoder = ECGViT(ECGViTConfig.from_dict(ckpt["encoder_config"]))
    encoder.load_state_dict(ckpt["encoder_state"])
    encoder.eval()
    raw = np.random.default_rng(0).standard_normal((3, 12, 2500)).astype(np.float32) * 0.3
    x = torch.from_numpy(preprocess(raw, PreprocessConfig.from_dict(ckpt["preprocess"])))
    with torch.no_grad():
        emb_ref = encoder(x).double().numpy()
        emb, reg, logits = (t.double().numpy() for t in model(x))
    np.testing.assert_allclose(emb, emb_ref, rtol=1e-6, atol=1e-6)
    reg_ref = emb_ref @ np.asarray(ckpt["ridge"]["weight"]).T + np.asarray(ckpt["ridge"]["bias"])
    np.testing.assert_allclose(reg, reg_ref, rtol=1e-4, atol=1e-4)
    logit_ref = emb_ref @ np.asarray(ckpt["logistic"]["weight"]).T + np.asarray(ckpt["logistic"]["bias"])
    np.testing.assert_allclose(logits, logit_ref, rtol=1e-4, atol=1e-4)


def test_golden_vectors_and_onnx_agree_with_the_file(run: tuple[Path, Path], tmp_path: Path) -> None:
    _, work = run
    path = export_model(work / "models" / "model5.pt", tmp_path, "tiny-test")
    golden = export_golden(path, tmp_path)
    model, config = load_exported(path)
    with safe_open(str(golden), framework="pt") as f:
        g = {k: f.get_tensor(k) for k in f.keys()}
    pre = PreprocessConfig.from_dict(config["preprocessing"]["config"])
    x = torch.from_numpy(preprocess(g["input.raw_mv"].numpy(), pre))
    assert torch.equal(x, g["input.preprocessed"])
    with torch.no_grad():
        stages = model.encoder.forward_intermediates(x)
        _, reg, logits = model(x)
    for k, v in stages.items():
        assert torch.equal(v, g[f"stage.{k}"]), k
    assert torch.equal(reg, g["output.regression"]) and torch.equal(logits, g["output.logits"])
    assert g["stage.blocks.2"].shape == (5, 300, 96)

    onnx_path = export_onnx(path, tmp_path)
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    emb_o, reg_o, logit_o = sess.run(None, {"ecg_preprocessed": x.numpy()})
    np.testing.assert_allclose(reg_o, reg.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(logit_o, logits.numpy(), rtol=1e-4, atol=1e-4)


def test_sets_for_the_quantizer(run: tuple[Path, Path], tmp_path: Path) -> None:
    _, work = run
    path = export_model(work / "models" / "model5.pt", tmp_path, "tiny-test")
    calib, held = export_sets(path, tmp_path / "sets", n_calibration=8, n_heldout=4)
    with safe_open(str(calib), framework="pt") as f:
        assert f.get_tensor("windows").shape == (8, 12, 2500)
    with safe_open(str(held), framework="pt") as f:
        assert f.get_tensor("recordings_mv").shape[0] == f.get_tensor("phenotypes").shape[0] == f.get_tensor("diseases").shape[0]


def test_files_with_incomplete_metadata_are_refused(run: tuple[Path, Path], tmp_path: Path) -> None:
    _, work = run
    path = export_model(work / "models" / "model5.pt", tmp_path, "tiny-test")
    with safe_open(str(path), framework="pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
        meta = f.metadata()
    config = json.loads(meta["config"])
    del config["thresholds"]
    bad = tmp_path / "bad.safetensors"
    save_file(tensors, str(bad), metadata={**meta, "config": json.dumps(config)})
    with pytest.raises(ValueError, match="missing fields \\['thresholds'\\]"):
        load_exported(bad)
    save_file(tensors, str(bad), metadata={"format": "something-else"})
    with pytest.raises(ValueError, match="not a ventriq-float file"):
        load_exported(bad)


def test_score_command_on_the_example_recordings(run: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from ventriq_training.score import main as score_main

    _, work = run
    path = export_model(work / "models" / "model5.pt", tmp_path, "tiny-test")
    examples = sorted((Path(__file__).resolve().parents[2] / "examples" / "recordings").glob("*.hea"))
    assert score_main([str(path), *map(str, examples), "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 5 and all(r["windows"] == 2 for r in rows)
    assert set(rows[0]["estimates"]) == {"lvef_pct", "rvef_pct", "co_l_min"}
    lo, hi = rows[0]["estimates"]["lvef_pct"]["interval_80"]
    assert lo < rows[0]["estimates"]["lvef_pct"]["value"] < hi
    assert score_main([str(path), str(tmp_path / "missing.hea")]) == 1
    assert "cannot read WFDB record" in capsys.readouterr().err


def test_model_card_reads_the_file(run: tuple[Path, Path], tmp_path: Path) -> None:
    from ventriq_training.export import model_card

    _, work = run
    path = export_model(work / "models" / "model5.pt", tmp_path, "tiny-test")
    card = model_card(path)
    assert card.startswith("# tiny-test (model version")
    assert "Not for clinical use" in card and "| lvef_pct (%) | R² |" in card and "threshold" in card


# --- sets only, from the committed model (no checkpoint) -----------------------------------------

COMMITTED_MODEL = Path(__file__).resolve().parents[2] / "models" / "ventriq-compact.safetensors"


def test_sets_only_from_the_committed_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from ventriq_training.cohort.dataset import CohortConfig, SyntheticCohort
    from ventriq_training.export import main as export_main
    from ventriq_training.records import DISEASES, PHENOTYPES

    out = tmp_path / "sets"
    argv = ["--sets-from", str(COMMITTED_MODEL), "--sets-dir", str(out), "--n-calibration", "4", "--n-heldout", "3"]
    assert export_main(argv) == 0
    assert sorted(p.name for p in out.iterdir()) == ["calibration.safetensors", "heldout.safetensors"]
    assert capsys.readouterr().out.split() == [str(out / "calibration.safetensors"), str(out / "heldout.safetensors")]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sets"]  # no model, golden, ONNX or card

    _, config = load_exported(COMMITTED_MODEL)
    cohort = SyntheticCohort(CohortConfig.from_dict(config["training_data"]["cohort"]))
    pre = PreprocessConfig.from_dict(config["preprocessing"]["config"])
    train, test = cohort.split_ids("train")[:4], cohort.split_ids("test")[:3]
    with safe_open(str(out / "calibration.safetensors"), framework="np") as f:
        windows = f.get_tensor("windows")
        assert windows.shape == (4, 12, 2500) and windows.dtype == np.float32
        np.testing.assert_array_equal(f.get_tensor("subject_id"), train)
        first = preprocess(cohort.ecg(int(train[0])).signal[None, :, :2500], pre).astype(np.float32)
        np.testing.assert_array_equal(windows[:1], first)
        assert json.loads(f.metadata()["phenotypes"]) == list(PHENOTYPES)
    with safe_open(str(out / "heldout.safetensors"), framework="np") as f:
        rec, ph, dis = f.get_tensor("recordings_mv"), f.get_tensor("phenotypes"), f.get_tensor("diseases")
        assert rec.shape == (3, 12, 5000) and ph.shape == (3, len(PHENOTYPES)) and dis.shape == (3, len(DISEASES))
        assert dis.dtype == np.uint8 and set(np.unique(dis)) <= {0, 1}
        np.testing.assert_array_equal(f.get_tensor("subject_id"), test)
        assert json.loads(f.metadata()["diseases"]) == list(DISEASES)
        assert f.metadata()["model"] == COMMITTED_MODEL.name
    for row, i in enumerate(test.tolist()):
        lab = cohort.labels(i)
        np.testing.assert_array_equal(ph[row], lab.phenotypes.as_array())
        np.testing.assert_array_equal(dis[row], lab.diseases.as_array().astype(np.uint8))
        np.testing.assert_array_equal(rec[row], cohort.ecg(i).signal)
    lvef = ph[:, list(PHENOTYPES).index("lvef_pct")]
    assert np.all((lvef > 10) & (lvef < 90))


@pytest.mark.parametrize(
    "argv, message",
    [
        ([], "one of the arguments --checkpoint --sets-from --random is required"),
        (["--checkpoint", "a.pt", "--sets-from", "m.safetensors"], "not allowed with argument"),
        (["--sets-from", str(COMMITTED_MODEL)], "--sets-from needs --sets-dir"),
        (["--sets-from", "missing.safetensors", "--sets-dir", "x"], "model missing.safetensors not found"),
        (["--sets-from", str(COMMITTED_MODEL), "--sets-dir", "x", "--n-heldout", "0"], "must be >= 1"),
    ],
)
def test_export_arguments(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    from ventriq_training.export import main as export_main

    with pytest.raises(SystemExit) as e:
        export_main(argv)
    assert e.value.code == 2
    assert message in capsys.readouterr().err


def test_sets_only_refuses_more_subjects_than_the_split_has(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from ventriq_training.export import main as export_main

    argv = ["--sets-from", str(COMMITTED_MODEL), "--sets-dir", str(tmp_path / "sets"), "--n-calibration", "2", "--n-heldout", "601"]
    assert export_main(argv) == 1
    assert "the cohort's test split has 600 subjects; 601 requested" in capsys.readouterr().err
    assert not (tmp_path / "sets").exists()
