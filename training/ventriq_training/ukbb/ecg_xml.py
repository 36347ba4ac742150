"""UK Biobank 12-lead resting ECG (field 20205, GE CardioSoft XML) reader and writer.

Format, as far as it could be checked against public parsers of these files
(ml4h ``tensor_writer_ukbb.py``, BRAVEHEART ``load_cardiosoftxml.m``,
suniljmanohar/UKBiobank_ECG, paubrunet97/CardioSoftECGXMLreader)::

    <?xml version="1.0" encoding="ISO8859-1"?>
    <CardiologyXML>
      ...                                    (patient info, measurements, interpretation)
      <StripData>                            (the 10 s rhythm strip; this module reads only this)
        <NumberOfLeads>12</NumberOfLeads>
        <SampleRate units="Hz">500</SampleRate>
        <ChannelSampleCountTotal>5000</ChannelSampleCountTotal>
        <Resolution units="uVperLsb">5</Resolution>
        <WaveformData lead="I">   12,14,14, ...
              ...</WaveformData>             (comma-separated integer ADC codes; whitespace,
        ...                                   newlines and tabs between values are allowed)
      </StripData>
      <RestingECGMeasurements> ... <MedianSamples> ... </RestingECGMeasurements>
    </CardiologyXML>

Confirmed from those sources: root ``CardiologyXML``; ``StripData`` directly under it holding
``SampleRate`` (units="Hz"), ``Resolution`` (units="uVperLsb", value 5 in the examples) and one
``WaveformData`` per lead with a ``lead`` attribute; lead names I, II, III, aVR, aVL, aVF, V1-V6
(ml4h), with capitalisation varying between software versions (BRAVEHEART lower-cases them,
UKBiobank_ECG upper-cases them); 5000 samples per lead (ml4h ``ECG_SHAPE``) at 500 Hz; values in
mV = code x Resolution / 1000 (BRAVEHEART); bulk files are named
``<eid>_20205_<instance>_<array>.xml`` (ml4h, UKBiobank_ECG).

Not confirmed (no real file was available): the typical Resolution value (5 uV/LSB is what a
third-party parser's docstring quotes; the loader always uses the value in the file); whether
``ChannelSampleCountTotal`` is always present (checked only when present); whether exports ever
hold fewer than 12 strip leads (UKBiobank_ECG warns about such files; the 8-lead derivation here
is defensive); the encoding declaration (ISO8859-1 is assumed by two parsers; the XML declaration
decides); the DOCTYPE line, if any (BRAVEHEART disables external-DTD loading, which suggests one:
a DOCTYPE naming an external DTD is accepted and never fetched; ``<!ENTITY`` declarations are
refused).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ventriq_training.records import LEADS, DataError, ECGRecord, limb_leads_from_i_ii

DEFAULT_FS_HZ = 500.0
DEFAULT_SAMPLES = 5000  # 10 s at 500 Hz
INDEPENDENT_LEADS: tuple[str, ...] = ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")
DERIVED_LEADS: tuple[str, ...] = ("III", "aVR", "aVL", "aVF")

# Lead names differ in case between CardioSoft versions (aVR / AVR / avr): match case-insensitively.
_CANONICAL_LEAD = {name.lower(): name for name in LEADS}
_UKBB_FILE_NAME = re.compile(r"^(\d+)_20205_\d+_\d+$")


def load_ecg_xml(
    path: str | Path,
    subject_id: str | None = None,
    expected_fs_hz: float | None = DEFAULT_FS_HZ,
    expected_samples: int | None = DEFAULT_SAMPLES,
) -> ECGRecord:
    """Read the 10 s rhythm strip of a CardioSoft XML file as a 12-lead ECG in millivolts.

    ``expected_fs_hz=None`` accepts any sampling rate; ``expected_samples=None`` accepts any length
    (longer strips are never truncated). If only the 8 independent leads are present, III, aVR, aVL
    and aVF are derived (Einthoven/Goldberger). Raises ``DataError`` naming the file otherwise.
    """
    path = Path(path)
    source = str(path)
    strip = _strip_data(_parse_root(path, source), source)
    fs_hz = _sample_rate(strip, source)
    if expected_fs_hz is not None and fs_hz != expected_fs_hz:
        raise DataError(source, f"unsupported sampling rate {fs_hz:g} Hz, expected {expected_fs_hz:g} Hz")
    resolution_uv = _resolution_uv(strip, source)
    codes = _lead_codes(strip, source)
    n_samples = _common_length(codes, source)
    _check_declared_counts(strip, len(codes), n_samples, source)
    if expected_samples is not None and n_samples < expected_samples:
        raise DataError(
            source,
            f"strip too short: {n_samples} samples ({n_samples / fs_hz:g} s), "
            f"expected {expected_samples} ({expected_samples / fs_hz:g} s)",
        )
    signal = _twelve_lead_mv(codes, resolution_uv, source)
    return ECGRecord(
        signal=signal,
        fs_hz=fs_hz,
        subject_id=subject_id if subject_id is not None else _guess_subject_id(path),
        source=source,
    )


def write_ecg_xml(
    path: str | Path,
    signal_mv: npt.ArrayLike,
    fs_hz: float = DEFAULT_FS_HZ,
    resolution_uv: float = 5.0,
    leads: Sequence[str] = LEADS,
) -> None:
    """Write ``signal_mv`` (rows in ``leads`` order, millivolts) as a minimal CardioSoft XML file.

    Values are stored as integer ADC codes, round(mV x 1000 / resolution_uv), so a signal that is
    already a multiple of the resolution round-trips exactly; anything else is rounded to the
    nearest code (error <= resolution_uv / 2). Pass ``leads=INDEPENDENT_LEADS`` to write 8 leads.
    """
    signal = np.asarray(signal_mv, dtype=np.float64)
    if signal.ndim != 2 or signal.shape[0] != len(leads):
        raise ValueError(f"signal must have shape ({len(leads)}, n) for leads {tuple(leads)}, got {signal.shape}")
    if not np.all(np.isfinite(signal)):
        raise ValueError("signal contains NaN or infinite values")
    if resolution_uv <= 0 or fs_hz <= 0:
        raise ValueError("resolution_uv and fs_hz must be positive")
    codes = np.rint(signal * 1000.0 / resolution_uv).astype(np.int64)
    root = ET.Element("CardiologyXML")
    ET.SubElement(root, "ObservationType").text = "RestECG"
    strip = ET.SubElement(root, "StripData")
    ET.SubElement(strip, "NumberOfLeads").text = str(len(leads))
    ET.SubElement(strip, "SampleRate", units="Hz").text = f"{fs_hz:g}"
    ET.SubElement(strip, "ChannelSampleCountTotal").text = str(signal.shape[1])
    ET.SubElement(strip, "Resolution", units="uVperLsb").text = f"{resolution_uv:g}"
    for name, row in zip(leads, codes):
        ET.SubElement(strip, "WaveformData", lead=name).text = _format_codes(row)
    ET.indent(root)
    tree = ET.ElementTree(root)
    tree.write(Path(path), encoding="ISO8859-1", xml_declaration=True)


def _format_codes(row: npt.NDArray[np.int64]) -> str:
    # Real exports wrap the sample list over several tab-indented lines; mimic that so readers
    # of our fixtures are exercised on embedded whitespace.
    values = [str(int(v)) for v in row]
    lines = [",".join(values[i : i + 20]) for i in range(0, len(values), 20)]
    return "\n\t\t" + ",\n\t\t".join(lines) + "\n\t"


def _parse_root(path: Path, source: str) -> ET.Element:
    if not path.exists():
        raise DataError(source, "file not found")
    if not path.is_file():
        raise DataError(source, "not a regular file")
    data = path.read_bytes()
    # Entity declarations are the vector for entity-expansion attacks and never occur in ECG exports.
    if b"<!ENTITY" in data:
        raise DataError(source, "XML entity declarations (<!ENTITY>) are not allowed")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        line, column = exc.position
        raise DataError(source, f"invalid or truncated XML at line {line}, column {column}: {exc}") from exc
    if root.tag != "CardiologyXML":
        raise DataError(source, f"root element is <{root.tag}>, expected <CardiologyXML> (GE CardioSoft)")
    return root


def _strip_data(root: ET.Element, source: str) -> ET.Element:
    strip = root.find("StripData")
    if strip is None:
        raise DataError(source, "no <StripData> element (the 10 s rhythm strip) under <CardiologyXML>")
    return strip


def _number(strip: ET.Element, tag: str, source: str) -> tuple[float, ET.Element]:
    element = strip.find(tag)
    if element is None or element.text is None or not element.text.strip():
        raise DataError(source, f"<StripData> has no <{tag}> value")
    try:
        value = float(element.text)
    except ValueError:
        raise DataError(source, f"<{tag}> is not a number: {element.text.strip()!r}") from None
    if not np.isfinite(value) or value <= 0:
        raise DataError(source, f"<{tag}> must be a positive number, got {element.text.strip()!r}")
    return value, element


def _sample_rate(strip: ET.Element, source: str) -> float:
    value, element = _number(strip, "SampleRate", source)
    units = element.get("units")
    if units is not None and units != "Hz":
        raise DataError(source, f"unsupported <SampleRate> units {units!r}, expected 'Hz'")
    return value


def _resolution_uv(strip: ET.Element, source: str) -> float:
    value, element = _number(strip, "Resolution", source)
    units = element.get("units")
    if units is not None and units != "uVperLsb":
        raise DataError(source, f"unsupported <Resolution> units {units!r}, expected 'uVperLsb'")
    return value


def _lead_codes(strip: ET.Element, source: str) -> dict[str, npt.NDArray[np.float64]]:
    codes: dict[str, npt.NDArray[np.float64]] = {}
    for element in strip.findall("WaveformData"):
        raw_name = element.get("lead")
        if raw_name is None:
            raise DataError(source, "<WaveformData> without a 'lead' attribute")
        name = _CANONICAL_LEAD.get(raw_name.strip().lower())
        if name is None:
            raise DataError(source, f"unknown lead name {raw_name!r} (expected one of {', '.join(LEADS)})")
        if name in codes:
            raise DataError(source, f"lead {name} appears more than once")
        codes[name] = _parse_samples(element.text or "", name, source)
    if not codes:
        raise DataError(source, "<StripData> has no <WaveformData> leads")
    return codes


def _parse_samples(text: str, lead: str, source: str) -> npt.NDArray[np.float64]:
    tokens = [token.strip() for token in text.split(",")]
    if tokens and tokens[-1] == "":
        tokens.pop()  # a trailing comma is harmless; an empty value anywhere else is not
    for index, token in enumerate(tokens):
        if token == "":
            raise DataError(source, f"lead {lead}: empty sample at index {index}")
    try:
        values = np.fromiter((float(token) for token in tokens), dtype=np.float64, count=len(tokens))
    except ValueError:
        index, token = next((i, t) for i, t in enumerate(tokens) if not _is_number(t))
        raise DataError(source, f"lead {lead}: non-numeric sample {token!r} at index {index}") from None
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        index = int(bad[0])
        raise DataError(source, f"lead {lead}: non-finite sample {tokens[index]!r} (NaN/inf) at index {index}")
    return values


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _common_length(codes: dict[str, npt.NDArray[np.float64]], source: str) -> int:
    lengths = {name: values.size for name, values in codes.items()}
    if len(set(lengths.values())) != 1:
        listing = ", ".join(f"{name}={n}" for name, n in lengths.items())
        raise DataError(source, f"leads of unequal length: {listing}")
    n_samples = next(iter(lengths.values()))
    if n_samples == 0:
        raise DataError(source, "leads hold no samples")
    return n_samples


def _check_declared_counts(strip: ET.Element, n_leads: int, n_samples: int, source: str) -> None:
    # Both counts are optional metadata; when present they must agree with the data.
    declared_leads = strip.findtext("NumberOfLeads")
    if declared_leads is not None and declared_leads.strip() and declared_leads.strip() != str(n_leads):
        raise DataError(source, f"<NumberOfLeads> says {declared_leads.strip()} but {n_leads} leads were found")
    declared_samples = strip.findtext("ChannelSampleCountTotal")
    if declared_samples is not None and declared_samples.strip() and declared_samples.strip() != str(n_samples):
        raise DataError(
            source, f"<ChannelSampleCountTotal> says {declared_samples.strip()} but leads hold {n_samples} samples"
        )


def _twelve_lead_mv(
    codes: dict[str, npt.NDArray[np.float64]], resolution_uv: float, source: str
) -> npt.NDArray[np.float32]:
    missing_independent = [name for name in INDEPENDENT_LEADS if name not in codes]
    missing_derived = [name for name in DERIVED_LEADS if name not in codes]
    if missing_independent or 0 < len(missing_derived) < len(DERIVED_LEADS):
        missing = [name for name in LEADS if name not in codes]
        raise DataError(
            source, f"missing leads: {', '.join(missing)} (need all 12, or the 8 independent leads I, II, V1-V6)"
        )
    # (code x uV) / 1000 keeps the product exact for integer codes, so one rounding only.
    mv = {name: values * resolution_uv / 1000.0 for name, values in codes.items()}
    if missing_derived:
        for name, values in zip(DERIVED_LEADS, limb_leads_from_i_ii(mv["I"], mv["II"])):
            mv[name] = values.astype(np.float64)
    return np.stack([mv[name] for name in LEADS]).astype(np.float32)


def _guess_subject_id(path: Path) -> str:
    # UK Biobank bulk files are <eid>_20205_<instance>_<array>.xml; in the Ventriq layout
    # (<root>/<eid>/ecg.xml) the folder carries the eid.
    match = _UKBB_FILE_NAME.match(path.stem)
    if match:
        return match.group(1)
    if path.name == "ecg.xml" and path.parent.name:
        return path.parent.name
    return path.stem
