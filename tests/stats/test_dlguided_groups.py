"""DL-guided thickness, vertex areas, TP/TN groups and the reference knee."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import pyvista as pv

from kneeviewer.stats.atlas import choose_reference
from kneeviewer.stats.cohort import encode_sex
from kneeviewer.stats.dlguided import compartment_thickness, dl_guided_thickness, minmax_scale, vertex_areas
from kneeviewer.stats.groups import NO_PAIN, PAIN, TN_NOPAIN, TP_PAIN, describe_groups, select_groups


def test_vertex_areas_sum_to_sphere_area():
    sphere = pv.Sphere(radius=10.0, theta_resolution=80, phi_resolution=80)
    # The inscribed polyhedron underestimates the area; 1 % at this resolution.
    assert vertex_areas(sphere).sum() == pytest.approx(4 * np.pi * 100, rel=0.01)


def test_dl_guided_constant_thickness():
    gradcam = np.array([0.0, 0.2, 0.9, 0.5])
    assert dl_guided_thickness(np.full(4, 2.5), gradcam) == pytest.approx(2.5)


def test_dl_guided_weights_and_nan():
    thickness = np.array([1.0, 3.0, np.nan, 2.0])
    gradcam = np.array([0.0, 1.0, 1.0, 0.5])
    # weights 0, 1, (excluded), 0.5 -> (3 + 1) / 1.5
    assert dl_guided_thickness(thickness, gradcam) == pytest.approx(4.0 / 1.5)


def test_dl_guided_area_weighted():
    thickness = np.array([1.0, 3.0])
    gradcam = np.array([1.0, 1.0])
    assert dl_guided_thickness(thickness, gradcam, np.array([3.0, 1.0])) == pytest.approx(1.5)


def test_dl_guided_no_cartilage_is_nan():
    assert np.isnan(dl_guided_thickness(np.full(3, np.nan), np.array([0.1, 0.5, 0.9])))


def test_minmax_scale_keeps_nan():
    scaled = minmax_scale(np.array([2.0, np.nan, 4.0, 3.0]))
    assert np.isnan(scaled[1])
    assert np.allclose(scaled[[0, 2, 3]], [0.0, 1.0, 0.5])


def test_compartment_thickness():
    means = compartment_thickness(np.array([1.0, 2.0, 3.0, np.nan]), np.array(["medial", "medial", "lateral", "lateral"]))
    assert means == {"lateral": 3.0, "medial": 1.5}


def test_groups_intersect_models():
    probabilities = pd.DataFrame({"m1": [0.9, 0.8, 0.1, 0.2, 0.7], "m2": [0.9, 0.3, 0.1, 0.6, np.nan]})
    pain = pd.Series([1, 1, 0, 0, 1])
    groups = select_groups(probabilities, pain)
    assert groups[0] == TP_PAIN
    assert pd.isna(groups[1])
    assert groups[2] == TN_NOPAIN
    assert pd.isna(groups[3])
    assert pd.isna(groups[4])
    assert select_groups(probabilities, pain, models=["m1"])[1] == TP_PAIN


def test_label_groups_ignore_predictions():
    probabilities = pd.DataFrame({"m1": [0.9, 0.2, 0.1, 0.8, 0.7], "m2": [0.9, 0.3, 0.1, 0.6, np.nan]})
    pain = pd.Series([1, 1, 0, 0, 1])
    groups = select_groups(probabilities, pain, grouping="label")
    assert list(groups[:4]) == [PAIN, PAIN, NO_PAIN, NO_PAIN]
    assert pd.isna(groups[4])  # a missing prediction still leaves the knee out
    summary = describe_groups(groups, pd.DataFrame({"age": [60, 70, 50, 40, 30]}), (PAIN, NO_PAIN))
    assert summary[PAIN]["n"] == 2
    assert summary[NO_PAIN]["n"] == 2


def test_unknown_grouping_raises():
    from kneeviewer.errors import InputError

    with pytest.raises(InputError, match="Grouping 'truth' is invalid"):
        select_groups(pd.DataFrame({"m1": [0.9]}), pd.Series([1]), grouping="truth")


def test_groups_unknown_model_raises():
    from kneeviewer.errors import InputError

    with pytest.raises(InputError, match="m3"):
        select_groups(pd.DataFrame({"m1": [0.9]}), pd.Series([1]), models=["m3"])


def test_describe_groups():
    groups = pd.Series([TP_PAIN, TP_PAIN, TN_NOPAIN, np.nan])
    demographics = pd.DataFrame({"age": [60, 70, 50, 40], "sex": [1, 0, 1, 1], "bmi": [25, 27, 30, 20]})
    summary = describe_groups(groups, demographics)
    assert summary[TP_PAIN]["n"] == 2
    assert summary[TP_PAIN]["age_mean"] == 65
    assert summary[TN_NOPAIN]["sex_1"] == 1


def test_reference_closest_to_mean():
    demographics = pd.DataFrame({"age": [40.0, 60.0, 80.0], "sex": [0.0, 1.0, 0.0], "bmi": [20.0, 27.0, 34.0]}, index=["a", "b", "c"])
    assert choose_reference(demographics) == "b"


def test_encode_sex_letters():
    assert list(encode_sex(pd.Series(["F", "M", "f"]))) == [1.0, 0.0, 1.0]
