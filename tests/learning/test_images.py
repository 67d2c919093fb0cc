"""Group normalisation and the image store."""

from __future__ import annotations

import numpy as np
import pandas as pd

from kneeviewer.learning.images import ImageStore, build_image_store


def _write_maps(results_dir, thickness_mm: np.ndarray, shape_mm: np.ndarray) -> None:
    results_dir.mkdir(parents=True)
    maps = {}
    for bone in ("femur", "tibia", "patella"):
        maps[f"{bone}/thickness_mm"] = thickness_mm.astype(np.float32)
        maps[f"{bone}/bone_shape_mm"] = shape_mm.astype(np.float32)
        for name in ("t2_ms", "t2_deep_ms", "t2_superficial_ms"):
            maps[f"{bone}/{name}"] = np.full((224, 224), 40.0, dtype=np.float32)
    np.savez(results_dir / "spherical_maps.npz", **maps)


def _cohort(tmp_path):
    first = np.full((224, 224), 1.0)
    first[0, 0] = np.nan
    second = np.full((224, 224), 3.0)
    second[10, 10] = 2.0
    _write_maps(tmp_path / "knees/a/results", first, np.full((224, 224), 30.0))
    _write_maps(tmp_path / "knees/b/results", second, np.full((224, 224), 40.0))
    table = pd.DataFrame({"patient_id": ["a", "b"], "timepoint": [0, 0], "pain": [0, 1], "results_dir": ["knees/a/results", "knees/b/results"]})
    build_image_store(table, tmp_path / "images")
    return ImageStore(tmp_path / "images")


def test_images_group_normalised(tmp_path):
    store = _cohort(tmp_path)
    thickness = store.images("femur", "thickness")
    assert thickness.shape == (2, 3, 224, 224)
    assert thickness.dtype == np.uint8
    assert thickness[0, 0, 5, 5] == 0  # cohort minimum 1 mm
    assert thickness[1, 0, 5, 5] == 255  # cohort maximum 3 mm
    assert thickness[1, 0, 10, 10] == 128  # 2 mm is half way, rounded


def test_images_nan_becomes_zero(tmp_path):
    store = _cohort(tmp_path)
    assert store.images("femur", "thickness")[0, 0, 0, 0] == 0


def test_images_strategy_channels(tmp_path):
    store = _cohort(tmp_path)
    mixed = store.images("tibia", "thickness_shape")
    assert mixed[1, 0, 5, 5] == 255
    assert mixed[1, 1, 5, 5] == 255  # shape 40 mm is the cohort maximum
    assert mixed[0, 1, 5, 5] == 0
    assert not mixed[:, 2].any()  # the third channel is empty


def test_images_constant_biomarker(tmp_path):
    store = _cohort(tmp_path)
    assert not store.images("patella", "t2").any()  # no range over the cohort


def test_images_index(tmp_path):
    store = _cohort(tmp_path)
    assert list(store.index["patient_id"]) == ["a", "b"]
    assert store.results_dir(1) == tmp_path / "knees/b/results"
