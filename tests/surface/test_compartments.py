"""Medial and lateral compartments in right-knee convention (medial toward +x)."""

from __future__ import annotations

import numpy as np
import pytest

from kneeviewer.errors import InputError
from kneeviewer.surface.compartments import compartment_labels, compartment_means


def test_labels_split_at_centroid_x():
    points = np.array([[12.0, 0.0, 0.0], [8.0, 5.0, -3.0], [10.5, 1.0, 1.0]])
    labels = compartment_labels(points, "tibia", np.array([10.0, 0.0, 0.0]))
    assert labels.tolist() == ["medial", "lateral", "medial"]


@pytest.mark.parametrize("bone", ["femur", "tibia", "patella"])
def test_labels_every_bone(bone):
    points = np.array([[-1.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    labels = compartment_labels(points, bone, np.zeros(3))
    assert labels.tolist() == ["lateral", "medial"]


def test_labels_unknown_bone_raises():
    with pytest.raises(InputError, match="Unknown bone"):
        compartment_labels(np.zeros((1, 3)), "fibula", np.zeros(3))


def test_means_ignore_nan():
    values = np.array([1.0, np.nan, 3.0, 2.0, np.nan])
    labels = np.array(["medial", "medial", "medial", "lateral", "lateral"])
    means = compartment_means(values, labels)
    assert means["medial"] == pytest.approx(2.0)
    assert means["lateral"] == pytest.approx(2.0)


def test_means_empty_compartment_nan():
    means = compartment_means(np.array([1.0, np.nan]), np.array(["medial", "lateral"]))
    assert means["medial"] == pytest.approx(1.0)
    assert np.isnan(means["lateral"])


def test_means_length_mismatch_raises():
    with pytest.raises(InputError, match="must match"):
        compartment_means(np.zeros(3), np.array(["medial"]))
