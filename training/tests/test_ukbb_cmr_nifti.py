"""UK Biobank short-axis cine NIfTI loader: orientation, round trips and every bad-input case."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import nibabel as nib
import numpy as np
import numpy.typing as npt
import pytest

from ventriq_training.records import CineCMR, DataError
from ventriq_training.ukbb.cmr_nifti import load_cine_nifti, load_cine_nifti_ed_es, write_cine_nifti

SLICES, FRAMES, H, W = 3, 6, 8, 10
ES = 3


def _masks() -> npt.NDArray[np.uint8]:
    """LV blood pool shrinking to a minimum at frame ES, myocardium and RV around it."""
    masks = np.zeros((SLICES, FRAMES, H, W), dtype=np.uint8)
    radius = [3, 3, 2, 1, 2, 3]
    for t, r in enumerate(radius):
        masks[:, t, 1:7, 6:9] = 3
        masks[:, t, 4 - r - 1 : 4 + r + 1, 0:6] = 2
        masks[:, t, 4 - r : 4 + r, 1:5] = 1
    return masks


def _cine(with_masks: bool = True) -> CineCMR:
    frames = np.random.default_rng(0).normal(100.0, 30.0, size=(SLICES, FRAMES, H, W)).astype(np.float32)
    return CineCMR(
        frames=frames,
        pixel_spacing_mm=(1.75, 1.5),
        slice_spacing_mm=10.0,
        slice_thickness_mm=8.0,
        source="fixture",
        masks=_masks() if with_masks else None,
        es_frame=ES if with_masks else None,
    )


def _save(path: Path, data: npt.NDArray[np.generic], zooms: tuple[float, ...] = (1.5, 1.75, 10.0, 0.03)) -> Path:
    image = nib.Nifti1Image(data, np.diag([*zooms[:3], 1.0]))
    image.header.set_zooms(zooms[: data.ndim])
    nib.save(image, path)
    return path


def _read(path: Path) -> nib.Nifti1Image:
    image = nib.load(path)
    assert isinstance(image, nib.Nifti1Image)
    return image


def _expect(path: Path, phrase: str, call: object = None, **kwargs: object) -> DataError:
    with pytest.raises(DataError) as info:
        if call is None:
            load_cine_nifti(path, **kwargs)  # type: ignore[arg-type]
        else:
            call()  # type: ignore[operator]
    message = str(info.value)
    assert path.name in message and phrase in message, message
    return info.value


def test_round_trip_with_labels(tmp_path: Path) -> None:
    cine = _cine()
    write_cine_nifti(tmp_path / "sa.nii.gz", cine, label_path=tmp_path / "label_sa.nii.gz", frame_interval_s=0.03)
    loaded = load_cine_nifti(tmp_path / "sa.nii.gz", tmp_path / "label_sa.nii.gz", slice_thickness_mm=8.0)
    assert loaded.frames.dtype == np.float32 and loaded.frames.shape == (SLICES, FRAMES, H, W)
    np.testing.assert_array_equal(loaded.frames, cine.frames)
    assert loaded.masks is not None and loaded.masks.dtype == np.uint8
    np.testing.assert_array_equal(loaded.masks, cine.masks)
    assert loaded.es_frame == ES
    assert loaded.pixel_spacing_mm == (1.75, 1.5)
    assert loaded.slice_spacing_mm == 10.0 and loaded.slice_thickness_mm == 8.0
    assert loaded.source.endswith("sa.nii.gz")
    assert _read(tmp_path / "sa.nii.gz").header["pixdim"][4] == pytest.approx(0.03)


def test_round_trip_without_labels_defaults_thickness_to_spacing(tmp_path: Path) -> None:
    write_cine_nifti(tmp_path / "sa.nii.gz", _cine(with_masks=False))
    loaded = load_cine_nifti(tmp_path / "sa.nii.gz")
    assert loaded.masks is None and loaded.es_frame is None
    assert loaded.slice_thickness_mm == 10.0


def test_disk_layout_is_x_y_z_t(tmp_path: Path) -> None:
    """frames[z, t, row, col] == sa[col, row, z, t], spacing from pixdim as ukbb_cardiac writes it."""
    volume = np.arange(W * H * SLICES * FRAMES, dtype=np.float32).reshape(W, H, SLICES, FRAMES)
    loaded = load_cine_nifti(_save(tmp_path / "sa.nii.gz", volume))
    assert loaded.frames.shape == (SLICES, FRAMES, H, W)
    assert loaded.frames[2, 4, 5, 7] == volume[7, 5, 2, 4]
    assert loaded.pixel_spacing_mm == (1.75, 1.5)  # (rows = pixdim[2], columns = pixdim[1])
    assert loaded.slice_spacing_mm == 10.0
    write_cine_nifti(tmp_path / "again.nii.gz", loaded)
    np.testing.assert_array_equal(np.asanyarray(_read(tmp_path / "again.nii.gz").dataobj), volume)


def test_integer_images_and_metre_units(tmp_path: Path) -> None:
    volume = np.arange(W * H * SLICES * FRAMES, dtype=np.int16).reshape(W, H, SLICES, FRAMES)
    image = nib.Nifti1Image(volume, np.diag([0.0015, 0.00175, 0.01, 1.0]))
    image.header.set_zooms((0.0015, 0.00175, 0.01, 0.03))
    image.header.set_xyzt_units("meter", "sec")
    nib.save(image, tmp_path / "sa.nii.gz")
    loaded = load_cine_nifti(tmp_path / "sa.nii.gz")
    assert loaded.frames.dtype == np.float32 and loaded.frames[1, 2, 3, 4] == volume[4, 3, 1, 2]
    assert loaded.pixel_spacing_mm == pytest.approx((1.75, 1.5))
    assert loaded.slice_spacing_mm == pytest.approx(10.0)


def test_es_skips_unannotated_frames(tmp_path: Path) -> None:
    """Manual label_sa files annotate only some frames; empty frames are not end-systole."""
    masks = _masks()
    masks[:, [1, 2, 4, 5]] = 0
    labels = _save(tmp_path / "label_sa.nii.gz", masks.transpose(3, 2, 0, 1).copy())
    write_cine_nifti(tmp_path / "sa.nii.gz", _cine(with_masks=False))
    assert load_cine_nifti(tmp_path / "sa.nii.gz", labels).es_frame == ES


def test_ed_es_label_files(tmp_path: Path) -> None:
    cine = _cine()
    assert cine.masks is not None
    write_cine_nifti(tmp_path / "sa.nii.gz", cine)
    ed = _save(tmp_path / "label_sa_ED.nii.gz", cine.masks[:, 0].transpose(2, 1, 0).copy())
    es = _save(tmp_path / "label_sa_ES.nii.gz", cine.masks[:, ES].transpose(2, 1, 0).copy())
    loaded = load_cine_nifti_ed_es(tmp_path / "sa.nii.gz", ed, es, es_frame=ES)
    assert loaded.es_frame == ES and loaded.masks is not None
    np.testing.assert_array_equal(loaded.masks[:, 0], cine.masks[:, 0])
    np.testing.assert_array_equal(loaded.masks[:, ES], cine.masks[:, ES])
    assert not loaded.masks[:, [1, 2, 4, 5]].any()
    sa = tmp_path / "sa.nii.gz"
    _expect(es, "es_frame 6 outside 1..5", lambda: load_cine_nifti_ed_es(sa, ed, es, es_frame=6))
    bad = _save(tmp_path / "label_sa_bad.nii.gz", cine.masks[:, 0].copy())
    _expect(bad, "does not match image shape", lambda: load_cine_nifti_ed_es(sa, ed, bad, es_frame=ES))


def test_missing_file(tmp_path: Path) -> None:
    _expect(tmp_path / "sa.nii.gz", "file not found")
    write_cine_nifti(tmp_path / "sa.nii.gz", _cine(with_masks=False))
    labels = tmp_path / "label_sa.nii.gz"
    _expect(labels, "file not found", lambda: load_cine_nifti(tmp_path / "sa.nii.gz", labels))


def test_truncated_gzip(tmp_path: Path) -> None:
    path = tmp_path / "sa.nii.gz"
    write_cine_nifti(path, _cine(with_masks=False))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    _expect(path, "truncated or corrupt")
    path.write_bytes(data[:20])
    _expect(path, "truncated or corrupt")


def test_truncated_uncompressed_nifti(tmp_path: Path) -> None:
    path = tmp_path / "sa.nii"
    write_cine_nifti(path, _cine(with_masks=False))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 100])
    _expect(path, "truncated or corrupt")


def test_not_a_nifti(tmp_path: Path) -> None:
    path = tmp_path / "sa.nii.gz"
    path.write_bytes(b"definitely not gzip" * 20)
    _expect(path, "truncated or corrupt")


def test_wrong_dimensionality(tmp_path: Path) -> None:
    path = _save(tmp_path / "sa.nii.gz", np.zeros((W, H, SLICES), dtype=np.float32))
    _expect(path, "expected a 4-D (X, Y, Z, T) cine, got shape (10, 8, 3)")


def test_non_finite_voxels(tmp_path: Path) -> None:
    volume = np.ones((W, H, SLICES, FRAMES), dtype=np.float32)
    volume[2, 3, 1, 4] = np.nan
    volume[5, 5, 2, 0] = np.inf
    path = _save(tmp_path / "sa.nii.gz", volume)
    _expect(path, "2 non-finite voxels (NaN/inf), first at (x, y, z, t) = (2, 3, 1, 4)")


@pytest.mark.parametrize("zooms", [(0.0, 1.75, 10.0), (1.5, 1.75, -10.0), (1.5, float("nan"), 10.0)])
def test_non_positive_pixdim(tmp_path: Path, zooms: tuple[float, ...]) -> None:
    # nibabel refuses to write such headers (and "fixes" them on load), so patch the bytes:
    # pixdim is float32[8] at byte 76 of the NIfTI-1 header.
    plain = _save(tmp_path / "sa.nii", np.ones((W, H, SLICES, FRAMES), dtype=np.float32))
    data = bytearray(plain.read_bytes())
    data[80:92] = struct.pack("<3f", *zooms)
    path = tmp_path / "sa.nii.gz"
    path.write_bytes(gzip.compress(bytes(data)))
    _expect(path, "non-positive or non-finite pixdim[1:4]")


def test_label_shape_mismatch(tmp_path: Path) -> None:
    write_cine_nifti(tmp_path / "sa.nii.gz", _cine(with_masks=False))
    labels = _save(tmp_path / "label_sa.nii.gz", np.zeros((W, H, SLICES, FRAMES - 1), dtype=np.uint8))
    sa = tmp_path / "sa.nii.gz"
    phrase = "label shape (10, 8, 3, 5) does not match image shape (10, 8, 3, 6)"
    _expect(labels, phrase, lambda: load_cine_nifti(sa, labels))


def test_label_values_outside_range(tmp_path: Path) -> None:
    write_cine_nifti(tmp_path / "sa.nii.gz", _cine(with_masks=False))
    masks = _masks().transpose(3, 2, 0, 1).copy()
    masks[0, 0, 0, 0] = 4
    masks[1, 0, 0, 0] = 7
    labels = _save(tmp_path / "label_sa.nii.gz", masks)
    sa = tmp_path / "sa.nii.gz"
    _expect(labels, "label values outside {0, 1, 2, 3}: [4, 7]", lambda: load_cine_nifti(sa, labels))


def test_fractional_labels_are_rejected(tmp_path: Path) -> None:
    write_cine_nifti(tmp_path / "sa.nii.gz", _cine(with_masks=False))
    masks = _masks().transpose(3, 2, 0, 1).astype(np.float32)
    masks[0, 0, 0, 0] = 1.5
    labels = _save(tmp_path / "label_sa.nii.gz", masks)
    sa = tmp_path / "sa.nii.gz"
    _expect(labels, "label values outside {0, 1, 2, 3}: [1.5]", lambda: load_cine_nifti(sa, labels))


def test_labels_without_usable_lv(tmp_path: Path) -> None:
    write_cine_nifti(tmp_path / "sa.nii.gz", _cine(with_masks=False))
    sa = tmp_path / "sa.nii.gz"
    empty = _save(tmp_path / "label_empty.nii.gz", np.zeros((W, H, SLICES, FRAMES), dtype=np.uint8))
    _expect(empty, "no LV blood-pool voxels (label 1) in any frame", lambda: load_cine_nifti(sa, empty))
    masks = _masks().transpose(3, 2, 0, 1).copy()
    masks[..., 0] = 0
    no_ed = _save(tmp_path / "label_no_ed.nii.gz", masks)
    _expect(no_ed, "at frame 0 (ED)", lambda: load_cine_nifti(sa, no_ed))
    masks = _masks().transpose(3, 2, 0, 1).copy()
    masks[..., 1:] = 0
    ed_only = _save(tmp_path / "label_ed_only.nii.gz", masks)
    _expect(ed_only, "cannot find end-systole", lambda: load_cine_nifti(sa, ed_only))


def test_writer_needs_masks_for_labels(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no masks"):
        write_cine_nifti(tmp_path / "sa.nii.gz", _cine(with_masks=False), label_path=tmp_path / "label_sa.nii.gz")


def test_frame_interval_round_trips_and_implausible_values_are_unknown(tmp_path: Path) -> None:
    frames = np.random.default_rng(1).random((3, 5, 6, 7)).astype(np.float32)
    cine = CineCMR(frames=frames, pixel_spacing_mm=(1.8, 1.8), slice_spacing_mm=10.0, slice_thickness_mm=8.0, frame_interval_ms=21.5)
    write_cine_nifti(tmp_path / "sa.nii.gz", cine)
    back = load_cine_nifti(tmp_path / "sa.nii.gz")
    assert back.frame_interval_ms == pytest.approx(21.5, rel=1e-5)
    unknown = CineCMR(frames=frames, pixel_spacing_mm=(1.8, 1.8), slice_spacing_mm=10.0, slice_thickness_mm=8.0)
    write_cine_nifti(tmp_path / "u.nii.gz", unknown)  # pixdim[4] stays at nibabel's 1.0 s
    assert load_cine_nifti(tmp_path / "u.nii.gz").frame_interval_ms is None
    assert not list(tmp_path.glob(".tmp-*"))
