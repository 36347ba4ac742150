"""Per-subject labels (CMR phenotypes, prevalent disease, covariates) from one CSV file.

Expected header (column order free, names exact, one row per subject)::

    eid,lvedv_ml,lvesv_ml,lvsv_ml,lvef_pct,rvedv_ml,rvesv_ml,rvef_pct,co_l_min,lvm_g,
    cad,af,scd,hf,mi,cardiomyopathy[,age_years][,sex][,any other columns]

- ``eid``: participant id, unique, non-empty (kept as a string).
- the nine phenotypes (``records.PHENOTYPES``; units in the names): required, finite numbers;
  empty, ``NA`` or ``nan`` values are errors, so drop subjects without imaging phenotypes first.
- the six disease flags (``records.DISEASES``): ``0`` or ``1`` (``0.0``/``1.0`` accepted).
- ``age_years`` (optional): number; empty or ``NA`` -> unknown.
- ``sex`` (optional): ``male``/``female`` (any case) or the UK Biobank coding of field 31
  (``1`` = male, ``0`` = female); empty or ``NA`` -> unknown.
- any other column is kept, as text, in ``SubjectLabels.extra``.

Building it from UK Biobank. The phenotypes map one-to-one onto the output of ukbb_cardiac's
``short_axis/eval_ventricular_volume.py`` (confirmed): ``LVEDV (mL)`` -> lvedv_ml, ``LVESV (mL)``
-> lvesv_ml, ``LVSV (mL)`` -> lvsv_ml, ``LVEF (%)`` -> lvef_pct, ``LVCO (L/min)`` -> co_l_min,
``LVM (g)`` -> lvm_g, ``RVEDV (mL)`` -> rvedv_ml, ``RVESV (mL)`` -> rvesv_ml, ``RVEF (%)`` ->
rvef_pct. From the Showcase instead: LV ejection fraction is field 22420 (category "Left
ventricular size and function", Siemens inline analysis) and field 24103 (category "Cardiac and
aortic function #1"); both confirmed. The neighbouring field numbers are NOT confirmed and must be
checked in the Showcase before use: 22421 LVEDV, 22422 LVESV, 22423 LVSV, 22424 cardiac output
(the 2242x block has no RV volumes or LV mass), and 24100 LVEDV, 24101 LVESV, 24102 LVSV,
24104 cardiac output, 24105 LV mass, 24106 RVEDV, 24107 RVESV, 24108 RVSV, 24109 RVEF.
Disease flags are study-specific (e.g. ICD-10 codes in hospital records, field 41270, at or before
the imaging visit) and must be derived by the user; age (e.g. field 21003 at the imaging instance,
unconfirmed) likewise.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from ventriq_training.records import DISEASES, PHENOTYPES, DataError, DiseaseFlags, Phenotypes, SubjectLabels

REQUIRED_COLUMNS: tuple[str, ...] = ("eid", *PHENOTYPES, *DISEASES)
OPTIONAL_COLUMNS: tuple[str, ...] = ("age_years", "sex")
_MISSING = {"", "na", "nan", "none", "null"}
_SEX_CODES = {"male": "male", "female": "female", "1": "male", "0": "female"}


def load_labels_csv(path: str | Path, delimiter: str = ",") -> dict[str, SubjectLabels]:
    """Read the labels CSV into ``{eid: SubjectLabels}``; errors name file, line and column."""
    path = Path(path)
    source = str(path)
    if not path.is_file():
        raise DataError(source, "file not found" if not path.exists() else "not a regular file")
    labels: dict[str, SubjectLabels] = {}
    first_line: dict[str, int] = {}
    with path.open(newline="", encoding="utf-8-sig") as handle:  # -sig: tolerate an Excel BOM
        reader = csv.reader(handle, delimiter=delimiter)
        header = _header(next(reader, None), source)
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue  # blank lines carry no subject
            where = f"{source}, line {line}"
            record = _row_to_labels(_as_dict(header, row, where), where)
            if record.subject_id in labels:
                raise DataError(
                    where, f"duplicate eid {record.subject_id!r} (first seen on line {first_line[record.subject_id]})"
                )
            labels[record.subject_id] = record
            first_line[record.subject_id] = line
    return labels


def _header(row: list[str] | None, source: str) -> list[str]:
    if row is None:
        raise DataError(source, "file is empty (no header row)")
    header = [name.strip() for name in row]
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise DataError(f"{source}, line 1", f"duplicate columns: {', '.join(duplicates)}")
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if missing:
        raise DataError(f"{source}, line 1", f"missing required columns: {', '.join(missing)}")
    return header


def _as_dict(header: list[str], row: list[str], where: str) -> dict[str, str]:
    if len(row) != len(header):
        raise DataError(where, f"{len(row)} fields but the header has {len(header)}")
    return {name: cell.strip() for name, cell in zip(header, row)}


def _row_to_labels(cells: dict[str, str], where: str) -> SubjectLabels:
    eid = cells["eid"]
    if not eid:
        raise DataError(where, "column 'eid': empty subject id")
    known = set(REQUIRED_COLUMNS) | set(OPTIONAL_COLUMNS)
    return SubjectLabels(
        subject_id=eid,
        phenotypes=Phenotypes(**{name: _phenotype(cells[name], name, where) for name in PHENOTYPES}),
        diseases=DiseaseFlags(**{name: _flag(cells[name], name, where) for name in DISEASES}),
        age_years=_optional_number(cells.get("age_years", ""), "age_years", where),
        sex=_sex(cells.get("sex", ""), where),
        extra={name: value for name, value in cells.items() if name not in known},
    )


def _number(value: str, column: str, where: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise DataError(where, f"column {column!r}: {value!r} is not a number") from None


def _phenotype(value: str, column: str, where: str) -> float:
    if value.lower() in _MISSING - {"nan"}:
        raise DataError(where, f"column {column!r}: missing value {value!r} (every phenotype is required)")
    number = _number(value, column, where)
    if math.isnan(number):
        raise DataError(where, f"column {column!r}: NaN phenotype (every phenotype is required)")
    if math.isinf(number):
        raise DataError(where, f"column {column!r}: infinite phenotype {value!r}")
    return number


def _flag(value: str, column: str, where: str) -> bool:
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if number not in (0.0, 1.0):
        raise DataError(where, f"column {column!r}: disease flag must be 0 or 1, got {value!r}")
    return number == 1.0


def _optional_number(value: str, column: str, where: str) -> float | None:
    if value.lower() in _MISSING:
        return None
    number = _number(value, column, where)
    if not math.isfinite(number):
        raise DataError(where, f"column {column!r}: non-finite value {value!r}")
    return number


def _sex(value: str, where: str) -> str | None:
    if value.lower() in _MISSING:
        return None
    sex = _SEX_CODES.get(value.lower())
    if sex is None:
        raise DataError(where, f"column 'sex': {value!r} is not male/female or UK Biobank coding 1=male, 0=female")
    return sex
