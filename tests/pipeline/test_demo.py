"""``kneeviewer run --demo``: the README's first command."""

from __future__ import annotations

import json

from kneeviewer.cli.main import main


def test_demo_run_writes_results(tmp_path, capsys):
    out_dir = tmp_path / "demo-results"
    assert main(["run", "--demo", "--out", str(out_dir), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "femur    mean thickness" in printed
    summary = json.loads((out_dir / "summary.json").read_text())
    assert summary["t2_fit"]["fitted_share"] > 0.9
    for name in ("femur.vtp", "tibia.vtp", "patella.vtp", "spherical_maps.npz", "thickness.png", "t2_ms.nrrd"):
        assert (out_dir / name).is_file(), name
    assert (out_dir / "demo-input" / "truth").is_dir()
