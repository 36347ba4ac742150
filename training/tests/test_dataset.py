"""Cohort as data: splits, on-disk shards, the Dataset protocol, and the command line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ventriq_training.cohort.__main__ import main as cohort_main
from ventriq_training.cohort.dataset import (
    CohortConfig,
    CohortDataset,
    ShardedCohort,
    SyntheticCohort,
    assign_splits,
    split_sizes,
    write_cohort,
)
from ventriq_training.records import PHENOTYPES


def test_study_split_proportions() -> None:
    # The study's split counts sum to 67,897 (not its 63,448 subjects): they give 70/15/15 and are
    # reproduced exactly at N = 67,897.
    assert split_sizes(67897) == {"train": 47527, "val": 10185, "test": 10185}
    assert split_sizes(63448) == {"train": 44412, "val": 9518, "test": 9518}
    s = assign_splits(1, 67897)
    assert np.bincount(s).tolist() == [47527, 10185, 10185]


def test_splits_deterministic_and_proportional() -> None:
    a, b = assign_splits(5, 1000), assign_splits(5, 1000)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, assign_splits(6, 1000))
    assert np.bincount(a).tolist() == [700, 150, 150]
    assert sum(split_sizes(1).values()) == 1 and split_sizes(1)["train"] == 1


@pytest.fixture(scope="module")
def small_cohort(tmp_path_factory: pytest.TempPathFactory) -> tuple[CohortConfig, Path, dict]:
    cfg = CohortConfig(seed=77, n_subjects=45, enrich=10.0)
    out = tmp_path_factory.mktemp("cohort")
    manifest = write_cohort(cfg, out, shard_size=20, workers=2, with_cmr=True)
    return cfg, out, manifest


def test_write_cohort_layout_and_manifest(small_cohort: tuple[CohortConfig, Path, dict]) -> None:
    cfg, out, manifest = small_cohort
    assert (out / "manifest.json").is_file() and (out / "subjects.csv").is_file()
    assert [s["start"] for s in manifest["shards"]] == [0, 20, 40]
    assert sorted(p.name for p in (out / "ecg").iterdir()) == ["shard_00000.npy", "shard_00001.npy", "shard_00002.npy"]
    assert not list(out.rglob(".tmp-*")), "temporary files left behind"
    on_disk = json.loads((out / "manifest.json").read_text())
    assert on_disk["n_subjects"] == 45 and sum(on_disk["split_sizes"].values()) == 45
    lines = (out / "subjects.csv").read_text().splitlines()
    assert len(lines) == 46 and lines[0].startswith("subject_id,split,age_years,sex,lvedv_ml")


def test_shards_match_on_the_fly_generation(small_cohort: tuple[CohortConfig, Path, dict]) -> None:
    cfg, out, _ = small_cohort
    disk = ShardedCohort(out)
    live = SyntheticCohort(cfg)
    for i in (0, 19, 20, 44):
        assert np.array_equal(disk.ecg(i), live.ecg(i).signal)
        labels = live.labels(i).phenotypes.as_array()
        np.testing.assert_allclose(disk.labels[i], labels, rtol=1e-6)
        cine = live.cine(i)
        np.testing.assert_array_equal(disk.view(i, "ed_stack"), cine.frames[:, 0])
    assert np.array_equal(disk.split, live.split)


def test_workers_do_not_change_the_data(small_cohort: tuple[CohortConfig, Path, dict], tmp_path: Path) -> None:
    cfg, out, _ = small_cohort
    write_cohort(cfg, tmp_path, shard_size=45, workers=1, with_cmr=False)
    one = ShardedCohort(tmp_path)
    two = ShardedCohort(out)
    for i in range(45):
        assert np.array_equal(one.ecg(i), two.ecg(i))
    assert np.array_equal(np.asarray(one.labels), np.asarray(two.labels))
    with pytest.raises(ValueError, match="without --cmr"):
        one.view(0, "mid_ed")


def test_dataset_protocol_on_disk_and_live(small_cohort: tuple[CohortConfig, Path, dict]) -> None:
    cfg, out, _ = small_cohort
    disk = CohortDataset(ShardedCohort(out), "train", cmr_views=("mid_ed", "ed_es"))
    live = CohortDataset(SyntheticCohort(cfg), "train", cmr_views=("mid_ed", "ed_es"))
    assert len(disk) == len(live) > 20
    a, b = disk[3], live[3]
    assert a["subject_id"] == b["subject_id"]
    assert a["ecg"].shape == (12, 5000) and a["phenotypes"].shape == (len(PHENOTYPES),) and a["diseases"].shape == (6,)
    np.testing.assert_array_equal(a["ecg"], b["ecg"])
    np.testing.assert_allclose(a["phenotypes"], b["phenotypes"], rtol=1e-6)
    np.testing.assert_array_equal(a["mid_ed"], b["mid_ed"])
    assert a["ed_es"].shape[0] == 2
    with pytest.raises(ValueError, match="split"):
        CohortDataset(ShardedCohort(out), "holdout")
    with pytest.raises(ValueError, match="unknown CMR views"):
        CohortDataset(ShardedCohort(out), "train", cmr_views=("short_axis",))


def test_sharded_cohort_refuses_missing_or_foreign_folders(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="manifest"):
        ShardedCohort(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"format_version": 99}))
    with pytest.raises(ValueError, match="format_version"):
        ShardedCohort(tmp_path)


def test_command_line_writes_cohort_and_wfdb(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cohort_main(["--n", "12", "--out", str(tmp_path), "--workers", "1", "--shard-size", "6", "--wfdb", "2", "--mains-hz", "60"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "wrote 12 subjects" in printed and "subjects/s" in printed and "wrote 2 WFDB records" in printed
    assert (tmp_path / "wfdb" / "subject00001.hea").is_file()
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["config"]["ecg"]["mains_hz"] == 60.0


def test_command_line_rejects_bad_arguments(tmp_path: Path) -> None:
    for argv in (["--n", "0", "--out", str(tmp_path)], ["--n", "5"], ["--n", "5", "--out", str(tmp_path), "--enrich", "-1"]):
        with pytest.raises(SystemExit) as e:
            cohort_main(argv)
        assert e.value.code == 2
