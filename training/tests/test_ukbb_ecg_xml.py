"""UK Biobank CardioSoft XML ECG loader: round trips, 8-lead derivation and every bad-input case."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from ventriq_training.records import LEADS, DataError
from ventriq_training.ukbb.ecg_xml import INDEPENDENT_LEADS, load_ecg_xml, write_ecg_xml

RESOLUTION_UV = 5.0


def _codes(n_leads: int = 12, n_samples: int = 5000, seed: int = 0) -> npt.NDArray[np.int64]:
    return np.random.default_rng(seed).integers(-400, 400, size=(n_leads, n_samples))


def _write(path: Path, codes: npt.NDArray[np.int64], **kwargs: object) -> Path:
    write_ecg_xml(path, codes * RESOLUTION_UV / 1000.0, resolution_uv=RESOLUTION_UV, **kwargs)  # type: ignore[arg-type]
    return path


def _edit(path: Path, old: str, new: str, count: int = 1) -> Path:
    text = path.read_text(encoding="latin-1")
    assert old in text, old
    path.write_text(text.replace(old, new, count), encoding="latin-1")
    return path


def _set_first_samples(path: Path, lead: str, count: int, new: str) -> Path:
    """Replace the first ``count`` comma-terminated samples of ``lead`` by ``new``."""
    text = path.read_text(encoding="latin-1")
    pattern = re.compile(rf'(<WaveformData lead="{lead}">\s*)((?:[^,<]*,){{{count}}})')
    edited, n = pattern.subn(lambda m: m.group(1) + new, text, count=1)
    assert n == 1, lead
    path.write_text(edited, encoding="latin-1")
    return path


def _expect(path: Path, phrase: str, **kwargs: object) -> DataError:
    with pytest.raises(DataError) as info:
        load_ecg_xml(path, **kwargs)  # type: ignore[arg-type]
    message = str(info.value)
    assert path.name in message and phrase in message, message
    return info.value


def test_round_trip_is_exact_for_integer_codes(tmp_path: Path) -> None:
    codes = _codes()
    record = load_ecg_xml(_write(tmp_path / "1234567_20205_2_0.xml", codes))
    assert record.signal.dtype == np.float32 and record.signal.shape == (12, 5000)
    assert record.fs_hz == 500.0 and record.leads == LEADS
    assert record.subject_id == "1234567"
    assert record.source.endswith("1234567_20205_2_0.xml")
    np.testing.assert_array_equal(record.signal, (codes * RESOLUTION_UV / 1000.0).astype(np.float32))
    np.testing.assert_array_equal(np.rint(record.signal.astype(np.float64) * 1000.0 / RESOLUTION_UV), codes)


def test_file_format_matches_cardiosoft_layout(tmp_path: Path) -> None:
    path = _write(tmp_path / "ecg.xml", _codes(n_samples=50))
    text = path.read_text(encoding="latin-1")
    assert "<CardiologyXML>" in text and "<StripData>" in text
    assert '<SampleRate units="Hz">500</SampleRate>' in text
    assert '<Resolution units="uVperLsb">5</Resolution>' in text
    assert all(f'<WaveformData lead="{lead}">' in text for lead in LEADS)


def test_subject_id_from_folder_or_argument(tmp_path: Path) -> None:
    (tmp_path / "1000001").mkdir()
    path = _write(tmp_path / "1000001" / "ecg.xml", _codes(n_samples=100))
    assert load_ecg_xml(path, expected_samples=None).subject_id == "1000001"
    assert load_ecg_xml(path, subject_id="x", expected_samples=None).subject_id == "x"


def test_lead_names_are_case_insensitive_and_order_free(tmp_path: Path) -> None:
    codes = _codes(n_samples=200)
    upper = ("V6", "I", "II", "III", "AVR", "avl", "AvF", "v1", "V2", "V3", "V4", "V5")
    rows = [codes[LEADS.index(next(lead for lead in LEADS if lead.lower() == name.lower()))] for name in upper]
    path = _write(tmp_path / "ecg.xml", np.stack(rows), leads=upper)
    record = load_ecg_xml(path, expected_samples=None)
    np.testing.assert_array_equal(record.signal, (codes * RESOLUTION_UV / 1000.0).astype(np.float32))


def test_eight_leads_derive_the_limb_leads(tmp_path: Path) -> None:
    codes = _codes(n_leads=8)
    record = load_ecg_xml(_write(tmp_path / "ecg.xml", codes, leads=INDEPENDENT_LEADS))
    mv = codes * RESOLUTION_UV / 1000.0
    lead_i, lead_ii = mv[0], mv[1]
    expected = {
        "I": lead_i,
        "II": lead_ii,
        "III": lead_ii - lead_i,
        "aVR": -(lead_i + lead_ii) / 2,
        "aVL": lead_i - lead_ii / 2,
        "aVF": lead_ii - lead_i / 2,
        **{name: mv[INDEPENDENT_LEADS.index(name)] for name in INDEPENDENT_LEADS[2:]},
    }
    for index, name in enumerate(LEADS):
        np.testing.assert_allclose(record.signal[index], expected[name], rtol=0, atol=1e-6, err_msg=name)


def test_other_resolution_and_rate(tmp_path: Path) -> None:
    codes = _codes(n_samples=2500)
    path = tmp_path / "ecg.xml"
    write_ecg_xml(path, codes * 2.5 / 1000.0, fs_hz=250, resolution_uv=2.5)
    record = load_ecg_xml(path, expected_fs_hz=None, expected_samples=2500)
    assert record.fs_hz == 250.0 and record.duration_s == 10.0
    np.testing.assert_array_equal(record.signal, (codes * 2.5 / 1000.0).astype(np.float32))


def test_missing_file(tmp_path: Path) -> None:
    _expect(tmp_path / "absent.xml", "file not found")


def test_truncated_xml_reports_position(tmp_path: Path) -> None:
    path = _write(tmp_path / "ecg.xml", _codes(n_samples=100))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    error = _expect(path, "invalid or truncated XML at line", expected_samples=None)
    assert "column" in error.problem


def test_not_xml(tmp_path: Path) -> None:
    path = tmp_path / "ecg.xml"
    path.write_text("I,II,III\n1,2,3\n")
    _expect(path, "invalid or truncated XML at line 1")


def test_entity_declarations_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "ecg.xml"
    path.write_text('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><CardiologyXML>&a;</CardiologyXML>')
    _expect(path, "entity declarations")


def test_wrong_root(tmp_path: Path) -> None:
    path = tmp_path / "ecg.xml"
    path.write_text("<RestingECG><Waveform/></RestingECG>")
    _expect(path, "expected <CardiologyXML>")


def test_no_strip_data(tmp_path: Path) -> None:
    path = tmp_path / "ecg.xml"
    path.write_text("<CardiologyXML><RestingECGMeasurements/></CardiologyXML>")
    _expect(path, "no <StripData>")


def test_missing_leads_are_named(tmp_path: Path) -> None:
    codes = _codes(n_leads=10, n_samples=100)
    path = _write(tmp_path / "ecg.xml", codes, leads=[lead for lead in LEADS if lead not in ("V3", "aVL")])
    _expect(path, "missing leads: aVL, V3", expected_samples=None)


def test_partial_limb_leads_are_not_derived(tmp_path: Path) -> None:
    leads = (*INDEPENDENT_LEADS, "III")
    path = _write(tmp_path / "ecg.xml", _codes(n_leads=9, n_samples=100), leads=leads)
    _expect(path, "missing leads: aVR, aVL, aVF", expected_samples=None)


def test_unknown_and_duplicate_leads(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.xml", _codes(n_samples=100))
    _edit(path, 'lead="V6"', 'lead="V7"')
    _expect(path, "unknown lead name 'V7'", expected_samples=None)
    path = _write(tmp_path / "b.xml", _codes(n_samples=100))
    _edit(path, 'lead="V6"', 'lead="v5"')
    _expect(path, "lead V5 appears more than once", expected_samples=None)


def test_unequal_lead_lengths(tmp_path: Path) -> None:
    codes = _codes(n_samples=100)
    path = _write(tmp_path / "ecg.xml", codes)
    _set_first_samples(path, "II", 1, "")
    _expect(path, "leads of unequal length: I=100, II=99", expected_samples=None)


def test_declared_sample_count_must_match(tmp_path: Path) -> None:
    path = _write(tmp_path / "ecg.xml", _codes(n_samples=100))
    _edit(path, "<ChannelSampleCountTotal>100<", "<ChannelSampleCountTotal>5000<")
    _expect(path, "<ChannelSampleCountTotal> says 5000", expected_samples=None)


def test_declared_lead_count_must_match(tmp_path: Path) -> None:
    path = _write(tmp_path / "ecg.xml", _codes(n_samples=100))
    _edit(path, "<NumberOfLeads>12<", "<NumberOfLeads>8<")
    _expect(path, "<NumberOfLeads> says 8 but 12 leads", expected_samples=None)


def test_wrong_sampling_rate(tmp_path: Path) -> None:
    path = tmp_path / "ecg.xml"
    write_ecg_xml(path, _codes(n_samples=5000) / 200.0, fs_hz=250)
    _expect(path, "unsupported sampling rate 250 Hz, expected 500 Hz")
    assert load_ecg_xml(path, expected_fs_hz=None, expected_samples=None).fs_hz == 250.0


def test_wrong_units(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.xml", _codes(n_samples=100))
    _edit(path, 'units="Hz"', 'units="kHz"')
    _expect(path, "<SampleRate> units 'kHz'", expected_samples=None)
    path = _write(tmp_path / "b.xml", _codes(n_samples=100))
    _edit(path, 'units="uVperLsb"', 'units="mVperLsb"')
    _expect(path, "<Resolution> units 'mVperLsb'", expected_samples=None)


def test_missing_or_bad_resolution(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.xml", _codes(n_samples=100))
    _edit(path, '<Resolution units="uVperLsb">5</Resolution>', "")
    _expect(path, "no <Resolution> value", expected_samples=None)
    path = _write(tmp_path / "b.xml", _codes(n_samples=100))
    _edit(path, '"uVperLsb">5<', '"uVperLsb">0<')
    _expect(path, "<Resolution> must be a positive number", expected_samples=None)


def test_non_numeric_sample_names_lead_and_index(tmp_path: Path) -> None:
    codes = _codes(n_samples=100)
    path = _write(tmp_path / "ecg.xml", codes)
    _set_first_samples(path, "V2", 2, "1,x2,")
    _expect(path, "lead V2: non-numeric sample 'x2' at index 1", expected_samples=None)


def test_empty_sample(tmp_path: Path) -> None:
    codes = _codes(n_samples=100)
    path = _write(tmp_path / "ecg.xml", codes)
    _set_first_samples(path, "I", 1, ",")
    _expect(path, "lead I: empty sample at index 0", expected_samples=None)


@pytest.mark.parametrize("token", ["nan", "NaN", "inf", "-Infinity"])
def test_non_finite_sample(tmp_path: Path, token: str) -> None:
    codes = _codes(n_samples=100)
    path = _write(tmp_path / "ecg.xml", codes)
    _set_first_samples(path, "aVF", 2, f"0,{token},")
    _expect(path, f"lead aVF: non-finite sample '{token}' (NaN/inf) at index 1", expected_samples=None)


def test_too_short(tmp_path: Path) -> None:
    path = _write(tmp_path / "ecg.xml", _codes(n_samples=4000))
    _expect(path, "strip too short: 4000 samples (8 s), expected 5000 (10 s)")
    assert load_ecg_xml(path, expected_samples=None).signal.shape == (12, 4000)


def test_writer_rejects_bad_signals(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="shape"):
        write_ecg_xml(tmp_path / "a.xml", np.zeros((11, 10)))
    signal = np.zeros((12, 10))
    signal[3, 4] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        write_ecg_xml(tmp_path / "b.xml", signal)
