"""UK Biobank short-axis cine CMR as NIfTI, in the layout of the ukbb_cardiac toolbox (Bai et al.).

Layout (confirmed in baiwenjia/ukbb_cardiac ``data/biobank_utils.py``,
``data/prepare_data_ukbb2964.py`` and ``short_axis/eval_ventricular_volume.py``):

- ``<eid>/sa.nii.gz``: float 4-D array (X, Y, Z, T). X is the DICOM column index, Y the row index
  (the converter stores ``pixel_array.transpose()`` per slice), Z the slice index in the order of
  the ``CINE_segmented_SAX_b1, b2, ...`` series, T the trigger-time-sorted frame. ``pixdim[1:4]``
  are the column spacing, the row spacing and the slice *spacing* (DICOM SpacingBetweenSlices),
  ``pixdim[4]`` the frame interval in seconds.
- ``<eid>/label_sa.nii.gz`` (manual, from cvi42 contours) or ``seg_sa.nii.gz`` (network output):
  same 4-D shape; 0 background, 1 LV blood pool, 2 LV myocardium, 3 RV blood pool. In manual files
  only some frames (ED, ES) are annotated, the others are all zero.
- ``<eid>/label_sa_ED.nii.gz`` / ``label_sa_ES.nii.gz``: 3-D (X, Y, Z) labels of ED and ES only.
- ED is frame 0; ES is the frame of minimal LV blood-pool volume (``eval_ventricular_volume.py``).

Orientation chosen here: ``CineCMR.frames[z, t, row, col] = sa[col, row, z, t]``, i.e. (X, Y, Z, T)
is transposed to (Z, T, Y, X), so H = rows (Y) and W = columns (X) of each slice, as the DICOM
images were displayed. ``pixel_spacing_mm = (row spacing, column spacing) = (pixdim[2], pixdim[1])``
(DICOM PixelSpacing order), ``slice_spacing_mm = pixdim[3]``.

Not confirmed: (1) that slice 0 is the most basal slice. ukbb_cardiac keeps the acquisition order
b1, b2, ... and, as far as known, UK Biobank acquires the stack from base to apex, so slice 0 is
taken as basal, as ``records.py`` requires; the header alone cannot prove it (the affine's slice
direction is not anatomically labelled), so check a few subjects visually. (2) Slice thickness:
NIfTI stores no thickness, only spacing. The UK Biobank protocol (Petersen et al., JCMR 2016;
8 mm slices with a 2 mm gap, i.e. 10 mm spacing) is quoted from memory, not checked against the
paper; pass ``slice_thickness_mm`` explicitly (``UKBBSubjectSource`` passes 8.0), otherwise it is
set equal to ``pixdim[3]``. (3) Spatial units: files written by ukbb_cardiac leave ``xyzt_units``
unset; unset units are taken as millimetres, metres and micrometres are converted.

Checks: missing/truncated/corrupt files, non-4-D images, non-finite voxels, zero/negative/NaN
``pixdim[1:4]`` (read from the raw header, because nibabel silently replaces them on load), label
shape and values. The label file's affine is not compared with the image's, only its shape.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import nibabel as nib
import numpy as np
import numpy.typing as npt
from nibabel.filebasedimages import ImageFileError
from nibabel.openers import ImageOpener

from ventriq_training.atomic import atomic_output
from ventriq_training.records import LABEL_LV_BLOOD, DataError, CineCMR

_VALID_LABELS = (0, 1, 2, 3)
_UNIT_TO_MM = {"unknown": 1.0, "mm": 1.0, "meter": 1000.0, "micron": 0.001}
# What nibabel/gzip/zlib raise on truncated or corrupt files.
_READ_ERRORS = (ImageFileError, OSError, EOFError, zlib.error, ValueError)


def load_cine_nifti(
    path: str | Path,
    label_path: str | Path | None = None,
    slice_thickness_mm: float | None = None,
) -> CineCMR:
    """Read a 4-D short-axis cine (and optionally its 4-D label map) as a ``CineCMR``.

    With labels, ``masks`` is uint8 (slices, frames, H, W) and ``es_frame`` is the frame after ED
    (frame 0, which must be labelled) with the fewest LV blood-pool voxels; frames without any LV
    label count as unannotated (manual ``label_sa`` files) and are skipped.
    """
    if slice_thickness_mm is not None and not slice_thickness_mm > 0:
        raise ValueError(f"slice_thickness_mm must be positive, got {slice_thickness_mm}")
    source = str(path)
    image = _load_image(Path(path), source)
    volume = _image_data(image, source)
    if volume.ndim != 4:
        raise DataError(source, f"expected a 4-D (X, Y, Z, T) cine, got shape {volume.shape}")
    _check_finite(volume, source)
    spacing = _spacing_mm(Path(path), image, source)
    masks = es_frame = None
    if label_path is not None:
        labels = _load_labels(Path(label_path), volume.shape, source)
        es_frame = _es_frame(labels, str(label_path))
        masks = _to_record_axes(labels).astype(np.uint8)
    return CineCMR(
        frames=_to_record_axes(volume).astype(np.float32),
        pixel_spacing_mm=(spacing[1], spacing[0]),
        slice_spacing_mm=spacing[2],
        slice_thickness_mm=slice_thickness_mm if slice_thickness_mm is not None else spacing[2],
        source=source,
        masks=masks,
        es_frame=es_frame,
        frame_interval_ms=_frame_interval_ms(image),
    )


def _frame_interval_ms(image: nib.Nifti1Image) -> float | None:
    """pixdim[4] as the frame interval (ukbb_cardiac stores seconds), when it is plausible.

    nibabel leaves 1.0 when a writer never set it; an interval outside 2-500 ms cannot be a cine
    frame interval, so it is reported as unknown rather than turned into a wrong heart rate.
    """
    dt = float(image.header["pixdim"][4])
    time_unit = image.header.get_xyzt_units()[1]
    ms = dt if time_unit == "msec" else dt * 1000.0 if time_unit in ("sec", "unknown") else None
    if ms is None or not np.isfinite(ms) or not 2.0 <= ms <= 500.0:
        return None
    return ms


def load_cine_nifti_ed_es(
    path: str | Path,
    label_ed_path: str | Path,
    label_es_path: str | Path,
    es_frame: int,
    slice_thickness_mm: float | None = None,
) -> CineCMR:
    """Like ``load_cine_nifti`` for 3-D ``label_sa_ED``/``label_sa_ES`` files.

    The ES frame index is not stored in those files, so the caller supplies it; every frame other
    than 0 (ED) and ``es_frame`` gets an all-zero mask.
    """
    cine = load_cine_nifti(path, slice_thickness_mm=slice_thickness_mm)
    n_slices, n_frames, height, width = cine.frames.shape
    if not 0 < es_frame < n_frames:
        raise DataError(str(label_es_path), f"es_frame {es_frame} outside 1..{n_frames - 1}")
    spatial = (width, height, n_slices)  # (X, Y, Z) as stored on disk
    masks = np.zeros(cine.frames.shape, dtype=np.uint8)
    for frame, label_path in ((0, label_ed_path), (es_frame, label_es_path)):
        labels = _load_labels(Path(label_path), spatial, cine.source)
        masks[:, frame] = labels.transpose(2, 1, 0)
    return CineCMR(
        frames=cine.frames,
        pixel_spacing_mm=cine.pixel_spacing_mm,
        slice_spacing_mm=cine.slice_spacing_mm,
        slice_thickness_mm=cine.slice_thickness_mm,
        source=cine.source,
        masks=masks,
        es_frame=es_frame,
        frame_interval_ms=cine.frame_interval_ms,
    )


def write_cine_nifti(
    path: str | Path,
    cine: CineCMR,
    label_path: str | Path | None = None,
    frame_interval_s: float | None = None,
) -> None:
    """Write ``cine`` as ``sa.nii.gz``-style NIfTI (and its masks to ``label_path``).

    Inverse of ``load_cine_nifti``. Slice thickness is not representable in NIfTI and is lost;
    ``frame_interval_s`` (default: the cine's ``frame_interval_ms``) goes to ``pixdim[4]``, left at
    nibabel's default 1.0 when unknown. Each file is written under a temporary name and renamed.
    """
    if frame_interval_s is None and cine.frame_interval_ms is not None:
        frame_interval_s = cine.frame_interval_ms / 1000.0
    if label_path is not None and cine.masks is None:
        raise ValueError("label_path given but the cine has no masks")
    row_mm, col_mm = cine.pixel_spacing_mm
    affine = np.diag([col_mm, row_mm, cine.slice_spacing_mm, 1.0])
    _save(_from_record_axes(cine.frames).astype(np.float32), affine, Path(path), frame_interval_s)
    if label_path is not None and cine.masks is not None:
        _save(_from_record_axes(cine.masks).astype(np.uint8), affine, Path(label_path), frame_interval_s)


def _save(data: npt.NDArray[np.generic], affine: npt.NDArray[np.float64], path: Path, dt: float | None) -> None:
    image = nib.Nifti1Image(data, affine)
    image.header.set_xyzt_units("mm", "sec")
    if dt is not None:
        image.header["pixdim"][4] = dt
    with atomic_output(path) as tmp:  # keeps the suffix: .nii.gz decides compression
        nib.save(image, tmp)


def _to_record_axes(array: npt.NDArray[np.generic]) -> npt.NDArray[np.generic]:
    """(X, Y, Z, T) on disk -> (Z, T, Y, X) = (slices, frames, H, W)."""
    return np.ascontiguousarray(array.transpose(2, 3, 1, 0))


def _from_record_axes(array: npt.NDArray[np.generic]) -> npt.NDArray[np.generic]:
    """(slices, frames, H, W) -> (X, Y, Z, T) on disk."""
    return np.ascontiguousarray(array.transpose(3, 2, 0, 1))


def _load_image(path: Path, source: str) -> nib.Nifti1Image:
    if not path.exists():
        raise DataError(source, "file not found")
    if not path.is_file():
        raise DataError(source, "not a regular file")
    try:
        image = nib.load(path)
    except _READ_ERRORS as exc:
        raise DataError(source, f"cannot read NIfTI (truncated or corrupt file): {exc}") from exc
    if not isinstance(image, (nib.Nifti1Image, nib.Nifti2Image)):
        raise DataError(source, f"not a NIfTI image ({type(image).__name__})")
    return image


def _image_data(image: nib.Nifti1Image, source: str) -> npt.NDArray[np.generic]:
    # The header loads lazily; truncated gzip data only shows up when the voxels are read.
    try:
        return np.asanyarray(image.dataobj)
    except _READ_ERRORS as exc:
        raise DataError(source, f"cannot read NIfTI voxel data (truncated or corrupt file): {exc}") from exc


def _check_finite(volume: npt.NDArray[np.generic], source: str) -> None:
    if not np.issubdtype(volume.dtype, np.floating):
        return
    bad = ~np.isfinite(volume)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise DataError(source, f"{int(bad.sum())} non-finite voxels (NaN/inf), first at (x, y, z, t) = {first}")


def _spacing_mm(path: Path, image: nib.Nifti1Image, source: str) -> tuple[float, float, float]:
    # nibabel silently "fixes" zero (-> 1) and negative (-> abs) pixdim on load, so re-read the
    # header unchecked: a bad voxel size must be reported, not guessed.
    try:
        with ImageOpener(str(path)) as handle:
            raw_header = type(image.header).from_fileobj(handle, check=False)
    except _READ_ERRORS as exc:
        raise DataError(source, f"cannot read NIfTI header (truncated or corrupt file): {exc}") from exc
    pixdim = [float(v) for v in raw_header["pixdim"][1:4]]
    if not all(np.isfinite(v) and v > 0 for v in pixdim):
        raise DataError(source, f"non-positive or non-finite pixdim[1:4] = {tuple(pixdim)} (voxel spacing)")
    spatial_unit = image.header.get_xyzt_units()[0]
    if spatial_unit not in _UNIT_TO_MM:
        raise DataError(source, f"unsupported spatial unit {spatial_unit!r}")
    scale = _UNIT_TO_MM[spatial_unit]
    return (pixdim[0] * scale, pixdim[1] * scale, pixdim[2] * scale)


def _load_labels(path: Path, expected_shape: tuple[int, ...], image_source: str) -> npt.NDArray[np.uint8]:
    source = str(path)
    labels = _image_data(_load_image(path, source), source)
    if labels.shape != expected_shape:
        raise DataError(
            source, f"label shape {labels.shape} does not match image shape {expected_shape} ({image_source})"
        )
    _check_finite(labels, source)
    values = np.unique(labels)
    unexpected = [v.item() for v in values if v not in _VALID_LABELS]
    if unexpected:
        raise DataError(source, f"label values outside {{0, 1, 2, 3}}: {unexpected[:10]}")
    return labels.astype(np.uint8)


def _es_frame(labels: npt.NDArray[np.uint8], source: str) -> int:
    """Frame with the fewest LV blood-pool voxels among annotated frames; frame 0 must be ED."""
    lv_voxels = (labels == LABEL_LV_BLOOD).sum(axis=(0, 1, 2))
    annotated = np.flatnonzero(lv_voxels > 0)
    if annotated.size == 0:
        raise DataError(source, "no LV blood-pool voxels (label 1) in any frame")
    if lv_voxels[0] == 0:
        raise DataError(source, "no LV blood-pool voxels (label 1) at frame 0 (ED)")
    if annotated.size == 1:
        raise DataError(source, "LV blood pool labelled in frame 0 only; cannot find end-systole")
    # ES is a frame other than ED; ties go to the earliest frame.
    candidates = annotated[annotated > 0]
    return int(candidates[np.argmin(lv_voxels[candidates])])
