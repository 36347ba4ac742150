"""UK Biobank labels CSV loader and the on-disk subject source."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from ventriq_training.records import DISEASES, PHENOTYPES, CineCMR, DataError
from ventriq_training.ukbb import UKBBSubjectSource, load_labels_csv, write_cine_nifti, write_ecg_xml

PHENOTYPE_VALUES = {
    "lvedv_ml": "150.5",
    "lvesv_ml": "60.25",
    "lvsv_ml": "90.25",
    "lvef_pct": "59.97",
    "rvedv_ml": "160",
    "rvesv_ml": "70",
    "rvef_pct": "56.25",
    "co_l_min": "5.4",
    "lvm_g": "95.0",
}


def _row(eid: str, **overrides: str) -> dict[str, str]:
    row = {"eid": eid, **PHENOTYPE_VALUES, **{name: "0" for name in DISEASES}, "age_years": "61", "sex": "1"}
    row.update(overrides)
    return row


def _write_csv(path: Path, rows: list[dict[str, str]], columns: list[str] | None = None) -> Path:
    columns = columns if columns is not None else list(rows[0])
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def _expect(path: Path, phrase: str) -> DataError:
    with pytest.raises(DataError) as info:
        load_labels_csv(path)
    message = str(info.value)
    assert path.name in message and phrase in message, message
    return info.value


def test_round_trip(tmp_path: Path) -> None:
    rows = [
        _row("1000001", af="1", sex="female"),
        _row("1000002", mi="1", hf="1", sex="0", age_years=""),
        _row("1000003", cardiomyopathy="1.0", sex="MALE", age_years="NA"),
    ]
    labels = load_labels_csv(_write_csv(tmp_path / "labels.csv", rows))
    assert list(labels) == ["1000001", "1000002", "1000003"]
    first = labels["1000001"]
    assert first.subject_id == "1000001"
    assert first.phenotypes.as_dict() == {name: float(value) for name, value in PHENOTYPE_VALUES.items()}
    assert first.diseases.as_dict() == {name: name == "af" for name in DISEASES}
    assert first.age_years == 61.0 and first.sex == "female"
    second = labels["1000002"]
    assert second.diseases.mi and second.diseases.hf and not second.diseases.af
    assert second.age_years is None and second.sex == "female"
    third = labels["1000003"]
    assert third.diseases.cardiomyopathy and third.sex == "male" and third.age_years is None


def test_optional_columns_may_be_absent_and_extras_are_kept(tmp_path: Path) -> None:
    columns = ["site", "eid", *PHENOTYPES, *DISEASES]
    path = _write_csv(tmp_path / "labels.csv", [{**_row("7"), "site": "Cheadle"}], columns)
    record = load_labels_csv(path)["7"]
    assert record.age_years is None and record.sex is None
    assert record.extra == {"site": "Cheadle"}


def test_bom_and_blank_lines_are_tolerated(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "labels.csv", [_row("1"), _row("2")])
    path.write_text("\ufeff" + path.read_text() + "\n\n", encoding="utf-8")
    assert sorted(load_labels_csv(path)) == ["1", "2"]


def test_tab_separated(tmp_path: Path) -> None:
    path = tmp_path / "labels.tsv"
    row = _row("12")
    path.write_text("\t".join(row) + "\n" + "\t".join(row.values()) + "\n")
    assert load_labels_csv(path, delimiter="\t")["12"].phenotypes.lvedv_ml == 150.5


def test_missing_file(tmp_path: Path) -> None:
    _expect(tmp_path / "labels.csv", "file not found")


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text("")
    _expect(path, "file is empty")


def test_missing_required_columns_are_listed(tmp_path: Path) -> None:
    columns = [name for name in _row("1") if name not in ("lvsv_ml", "mi")]
    _expect(_write_csv(tmp_path / "labels.csv", [_row("1")], columns), "line 1: missing required columns: lvsv_ml, mi")


def test_duplicate_column(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "labels.csv", [_row("1")])
    lines = path.read_text().splitlines()
    path.write_text(lines[0] + ",af\n" + lines[1] + ",0\n")
    _expect(path, "duplicate columns: af")


def test_non_numeric_phenotype_names_line_and_column(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "labels.csv", [_row("1"), _row("2"), _row("3", lvef_pct="sixty")])
    _expect(path, "line 4: column 'lvef_pct': 'sixty' is not a number")


@pytest.mark.parametrize("value", ["nan", "NaN"])
def test_nan_phenotype(tmp_path: Path, value: str) -> None:
    path = _write_csv(tmp_path / "labels.csv", [_row("1", rvef_pct=value)])
    _expect(path, "line 2: column 'rvef_pct': NaN phenotype")


@pytest.mark.parametrize("value", ["", "NA"])
def test_missing_phenotype(tmp_path: Path, value: str) -> None:
    path = _write_csv(tmp_path / "labels.csv", [_row("1", lvm_g=value)])
    _expect(path, "line 2: column 'lvm_g': missing value")


def test_infinite_phenotype(tmp_path: Path) -> None:
    _expect(_write_csv(tmp_path / "labels.csv", [_row("1", co_l_min="inf")]), "column 'co_l_min': infinite phenotype")


@pytest.mark.parametrize("value", ["2", "yes", "", "0.5", "-1"])
def test_disease_flag_not_0_or_1(tmp_path: Path, value: str) -> None:
    path = _write_csv(tmp_path / "labels.csv", [_row("1"), _row("2", scd=value)])
    _expect(path, f"line 3: column 'scd': disease flag must be 0 or 1, got {value!r}")


def test_duplicate_eid(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "labels.csv", [_row("5"), _row("6"), _row("5")])
    _expect(path, "line 4: duplicate eid '5' (first seen on line 2)")


def test_empty_eid(tmp_path: Path) -> None:
    _expect(_write_csv(tmp_path / "labels.csv", [_row("")]), "line 2: column 'eid': empty subject id")


def test_wrong_field_count(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "labels.csv", [_row("1")])
    path.write_text(path.read_text() + "2,1,2\n")
    _expect(path, "line 3: 3 fields but the header has 18")


def test_bad_covariates(tmp_path: Path) -> None:
    _expect(_write_csv(tmp_path / "a.csv", [_row("1", sex="2")]), "line 2: column 'sex': '2' is not male/female")
    _expect(_write_csv(tmp_path / "b.csv", [_row("1", age_years="old")]), "column 'age_years': 'old' is not a number")


# --- UKBBSubjectSource ---------------------------------------------------------------------------


def _subject(root: Path, eid: str, with_cmr: bool = True, with_labels: bool = False) -> None:
    folder = root / eid
    folder.mkdir(parents=True)
    codes = np.random.default_rng(int(eid)).integers(-300, 300, size=(12, 5000))
    write_ecg_xml(folder / "ecg.xml", codes * 5.0 / 1000.0)
    if with_cmr:
        frames = np.ones((2, 3, 4, 5), dtype=np.float32)
        masks = np.zeros(frames.shape, dtype=np.uint8)
        masks[:, :, 1:3, 1:4] = 1
        masks[:, 1, 1, 1:4] = 0  # frame 1 has the smallest LV blood pool
        cine = CineCMR(frames, (1.5, 1.5), 10.0, 8.0, masks=masks)
        write_cine_nifti(folder / "sa.nii.gz", cine, label_path=folder / "label_sa.nii.gz" if with_labels else None)


def test_subject_source(tmp_path: Path) -> None:
    root = tmp_path / "subjects"
    _subject(root, "1000010", with_labels=True)
    _subject(root, "999", with_cmr=False)
    _subject(root, "1000002")
    (root / "not_a_subject").mkdir()
    labels_csv = _write_csv(tmp_path / "labels.csv", [_row("999"), _row("1000010")])

    source = UKBBSubjectSource(root, labels_csv)
    assert len(source) == 3 and source.ids == ["999", "1000002", "1000010"]

    ecg = source.ecg("1000010")
    assert ecg.subject_id == "1000010" and ecg.signal.shape == (12, 5000)
    cmr = source.cmr("1000010")
    assert cmr.masks is not None and cmr.es_frame == 1
    assert cmr.slice_thickness_mm == 8.0 and cmr.slice_spacing_mm == 10.0
    assert source.cmr("1000002").masks is None
    assert source.labels("999").phenotypes.lvef_pct == pytest.approx(59.97)

    with pytest.raises(DataError, match=r"subject 1000002: no row for this eid in .*labels\.csv"):
        source.labels("1000002")
    with pytest.raises(DataError, match="sa.nii.gz: file not found"):
        source.cmr("999")
    with pytest.raises(DataError, match="subject 42: no folder with ecg.xml"):
        source.ecg("42")


def test_subject_source_errors_at_construction(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="subject root directory not found"):
        UKBBSubjectSource(tmp_path / "absent", tmp_path / "labels.csv")
    (tmp_path / "root").mkdir()
    with pytest.raises(DataError, match="labels.csv: file not found"):
        UKBBSubjectSource(tmp_path / "root", tmp_path / "labels.csv")
