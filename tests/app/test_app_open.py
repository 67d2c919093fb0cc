"""Opening inputs: sorting paths into label map, DESS, MSME or results, and the series tree of the open dialog."""

from __future__ import annotations

from pathlib import Path

import pytest
from app_sphere_results import write_sphere_results

from kneeviewer.app.input_paths import classify_paths
from kneeviewer.errors import InputError


def test_classify_results_folder(tmp_path) -> None:
    results = write_sphere_results(tmp_path / "results")
    request = classify_paths([results])
    assert request.results == results
    assert request.labels is None


def test_classify_label_map_and_dess_file(tmp_path) -> None:
    labels = tmp_path / "labels.nrrd"
    dess = tmp_path / "dess.nii.gz"
    labels.write_bytes(b"")
    dess.write_bytes(b"")
    request = classify_paths([labels, dess])
    assert request.labels == labels
    assert request.dess == dess


def test_classify_missing_path(tmp_path) -> None:
    with pytest.raises(InputError, match="not found"):
        classify_paths([tmp_path / "absent.nrrd"])


def test_classify_needs_label_map(tmp_path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="neither DICOM"):
        classify_paths([empty])


def test_classify_unknown_file(tmp_path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("x")
    with pytest.raises(InputError, match="Unknown input"):
        classify_paths([text])


@pytest.mark.sample_data
def test_classify_multi_echo_as_msme(knee_sample_dir) -> None:
    request = classify_paths([knee_sample_dir / "dess_labels.nrrd", knee_sample_dir / "mese_t2_dicom"])
    assert request.labels == knee_sample_dir / "dess_labels.nrrd"
    assert request.msme == knee_sample_dir / "mese_t2_dicom"


@pytest.mark.gui
@pytest.mark.sample_data
def test_open_dialog_series_tree(qtbot, knee_sample_dir) -> None:
    from kneeviewer.app.open_dialog import OpenInputsDialog

    dialog = OpenInputsDialog()
    qtbot.addWidget(dialog)
    count = dialog.show_series(knee_sample_dir / "mese_t2_dicom", "MSME")
    patient = dialog.tree.topLevelItem(0)
    series = patient.child(0).child(0)
    assert count == 1
    assert patient.text(0).startswith("MSME: patient")
    assert int(series.text(1)) > 1
    assert int(series.text(2).split()[0]) > 1


@pytest.mark.gui
def test_open_dialog_needs_label_map(qtbot) -> None:
    from kneeviewer.app.open_dialog import OpenInputsDialog

    dialog = OpenInputsDialog()
    qtbot.addWidget(dialog)
    with pytest.raises(InputError, match="No label map"):
        dialog.selected_inputs()


@pytest.mark.gui
def test_open_dialog_inputs(qtbot, tmp_path) -> None:
    from kneeviewer.app.open_dialog import OpenInputsDialog

    dialog = OpenInputsDialog()
    qtbot.addWidget(dialog)
    dialog.labels_edit.setText(str(tmp_path / "labels.nrrd"))
    dialog.side_box.setCurrentIndex(2)
    inputs = dialog.selected_inputs()
    assert inputs.labels == Path(tmp_path / "labels.nrrd")
    assert inputs.side == "left"
    assert inputs.dess is None
