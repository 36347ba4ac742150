"""The bundled sample recordings are exactly what the generator makes (regenerate with `make examples`)."""

from __future__ import annotations

import filecmp
import json
from pathlib import Path

import wfdb

from ventriq_training.cohort.examples import main
from ventriq_training.records import LEADS

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "recordings"


def test_committed_examples_match_the_generator(tmp_path: Path) -> None:
    assert main(["--out", str(tmp_path)]) == 0
    fresh = sorted(p.name for p in tmp_path.iterdir())
    committed = sorted(p.name for p in EXAMPLES.iterdir())
    assert fresh == committed, "examples/recordings is stale: run `make examples`"
    match, mismatch, errors = filecmp.cmpfiles(tmp_path, EXAMPLES, fresh, shallow=False)
    assert not mismatch and not errors, f"stale example files {mismatch + errors}: run `make examples`"


def test_examples_are_readable_wfdb_with_truth() -> None:
    index = json.loads((EXAMPLES / "index.json").read_text())
    kinds = {row["kind"] for row in index["records"]}
    assert kinds == {"normal", "anterior_mi", "atrial_fibrillation", "lbbb_reduced_ef", "rv_dysfunction_rbbb"}
    for row in index["records"]:
        rec = wfdb.rdrecord(str(EXAMPLES / row["record"]))
        assert rec.sig_name == list(LEADS) and rec.fs == 500 and rec.p_signal.shape == (5000, 12)
        truth = json.loads((EXAMPLES / f"{row['record']}.json").read_text())
        assert set(truth["diseases"]) == {"cad", "af", "scd", "hf", "mi", "cardiomyopathy"}
        assert abs(truth["phenotypes"]["lvef_pct"] - row["lvef_pct"]) < 0.01
