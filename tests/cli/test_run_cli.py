"""``kneeviewer run`` and ``kneeviewer batch``: bad input gives one clear line and status 2."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from kneeviewer.cli.main import main
from kneeviewer.io.volume import Geometry, Volume, write_volume


def _label_map(tmp_path, values: dict[int, tuple[slice, slice, slice]], name="labels.nrrd"):
    data = np.zeros((40, 40, 20), dtype=np.uint8)
    for value, box in values.items():
        data[box] = value
    path = tmp_path / name
    write_volume(Volume(data, Geometry(data.shape, (0.5, 0.5, 1.0), (0, 0, 0))), path)
    return path


def test_empty_label_map_is_rejected(tmp_path, capsys):
    path = _label_map(tmp_path, {})
    status = main(["run", "--labels", str(path), "--out", str(tmp_path / "out"), "--quiet"])
    error = capsys.readouterr().err
    assert status == 2
    assert "is empty (only background)" in error
    assert str(path) in error


def test_label_map_missing_a_bone_is_rejected(tmp_path, capsys):
    box = (slice(5, 10), slice(5, 10), slice(5, 10))
    other = (slice(20, 25), slice(5, 10), slice(5, 10))
    path = _label_map(tmp_path, {5: box, 6: other})
    status = main(["run", "--labels", str(path), "--out", str(tmp_path / "out"), "--quiet"])
    error = capsys.readouterr().err
    assert status == 2
    assert "has no voxels of patella" in error
    assert "--schema" in error


def test_missing_label_file_is_named(tmp_path, capsys):
    missing = tmp_path / "absent.nrrd"
    status = main(["run", "--labels", str(missing), "--out", str(tmp_path / "out"), "--quiet"])
    error = capsys.readouterr().err
    assert status == 2
    assert f"Image file not found: {missing}" in error


def test_missing_msme_folder_is_named(tmp_path, capsys):
    labels = _label_map(tmp_path, {1: (slice(5, 8),) * 3})
    status = main(["run", "--labels", str(labels), "--msme", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o"), "--quiet"])
    error = capsys.readouterr().err
    assert status == 2
    assert "nowhere" in error


def test_invalid_schema_is_named(tmp_path, capsys):
    labels = _label_map(tmp_path, {1: (slice(5, 8),) * 3})
    schema = tmp_path / "schema.toml"
    schema.write_text("[structures]\nfemur = [5]\n")
    status = main(["run", "--labels", str(labels), "--schema", str(schema), "--out", str(tmp_path / "o"), "--quiet"])
    error = capsys.readouterr().err
    assert status == 2
    assert "lacks the required structures" in error
    assert str(schema) in error


def test_error_is_one_line_in_a_real_process(tmp_path):
    path = _label_map(tmp_path, {})
    completed = subprocess.run(
        [sys.executable, "-m", "kneeviewer", "run", "--labels", str(path), "--out", str(tmp_path / "out"), "--quiet"],
        capture_output=True, text=True, timeout=120,
    )
    assert completed.returncode == 2
    lines = [line for line in completed.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, completed.stderr
    assert lines[0].startswith("kneeviewer: error:")
    assert "Traceback" not in completed.stderr


def test_batch_table_without_labels_column(tmp_path, capsys):
    table = tmp_path / "knees.csv"
    table.write_text("knee_id,msme\na,x\n")
    status = main(["batch", "--table", str(table), "--out", str(tmp_path / "out")])
    error = capsys.readouterr().err
    assert status == 2
    assert "lacks the column(s) labels" in error


@pytest.mark.parametrize("option", [["--target-vertices", "10"], ["--radius-mm", "0"]])
def test_invalid_numbers_are_rejected(tmp_path, capsys, option):
    path = _label_map(tmp_path, {})
    status = main(["run", "--labels", str(path), "--out", str(tmp_path / "out"), "--quiet", *option])
    assert status == 2
    assert option[0] in capsys.readouterr().err


def test_out_that_is_a_file_is_rejected(tmp_path, capsys):
    labels = _label_map(tmp_path, {1: (slice(5, 8),) * 3})
    existing = tmp_path / "taken.txt"
    existing.write_text("x")
    status = main(["run", "--labels", str(labels), "--out", str(existing), "--quiet"])
    assert status == 2
    assert "is a file; give a folder" in capsys.readouterr().err


def test_labels_folder_is_rejected(tmp_path, capsys):
    status = main(["run", "--labels", str(tmp_path), "--out", str(tmp_path / "out"), "--quiet"])
    assert status == 2
    assert "is a folder; give the label map file" in capsys.readouterr().err


def test_batch_knee_id_with_path_is_rejected(tmp_path, capsys):
    table = tmp_path / "knees.csv"
    table.write_text("knee_id,labels\n../escape,labels.nrrd\n")
    status = main(["batch", "--table", str(table), "--out", str(tmp_path / "out")])
    error = capsys.readouterr().err
    assert status == 2
    assert "'../escape' is invalid" in error
    assert not (tmp_path / "escape").exists()


def test_batch_invalid_side_names_line(tmp_path, capsys):
    table = tmp_path / "knees.csv"
    table.write_text("knee_id,labels,side\nk1,labels.nrrd,lefty\n")
    status = main(["batch", "--table", str(table), "--out", str(tmp_path / "out")])
    error = capsys.readouterr().err
    assert status == 2
    assert "line 2" in error
    assert "'lefty'" in error


def test_phantom_negative_seed_is_rejected(tmp_path, capsys):
    status = main(["phantom", "--out", str(tmp_path / "p"), "--seed", "-1"])
    assert status == 2
    assert "--seed -1 is invalid" in capsys.readouterr().err


def test_gui_without_display_is_an_error(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    status = main(["open", str(tmp_path)])
    assert status == 2
    assert "No display found" in capsys.readouterr().err


def test_dess_on_other_grid_names_difference(tmp_path, capsys):
    labels = _label_map(tmp_path, {5: (slice(2, 6),) * 3, 6: (slice(8, 12),) * 3, 7: (slice(14, 18),) * 3,
                                   1: (slice(6, 7),) * 3, 2: (slice(12, 13),) * 3, 3: (slice(13, 14),) * 3,
                                   4: (slice(18, 19),) * 3})
    data = np.zeros((40, 40, 20), dtype=np.int16)
    dess = tmp_path / "dess.nrrd"
    write_volume(Volume(data, Geometry(data.shape, (0.5, 0.5, 0.7), (0, 0, 0))), dess)
    status = main(["run", "--labels", str(labels), "--dess", str(dess), "--out", str(tmp_path / "out"), "--quiet"])
    error = capsys.readouterr().err
    assert status == 2
    assert "does not lie on the label map's grid" in error
    assert "spacing [0.5, 0.5, 0.7] against [0.5, 0.5, 1.0] mm" in error
