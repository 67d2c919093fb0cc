"""Time the whole ``kneeviewer run`` on the real sample knee against pymskt's thickness.

Usage::

    python benchmarks/bench_run.py [--repeats 3] [--sample ../shared/data/knee-sample]

pymskt (PyPI ``mskt``) is the peer: ``BoneMesh.create_mesh()`` then
``calc_cartilage_thickness()`` for the femur, tibia and patella, as in the
sample's README. kneeviewer runs its whole pipeline (thickness, surfaces,
projection, spherical maps, summary; no rendering, no cache reuse) on the
same label map. Both run in this process, one after the other, and the
script prints medians and the ratio. Install the peer first with
``pip install --no-deps -r benchmarks/requirements.txt``.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
DEFAULT_SAMPLE = REPOSITORY.parent / "shared" / "data" / "knee-sample"

# Bone and cartilage label values of the sample (its README).
PYMSKT_BONES = {"femur": (5, [1]), "tibia": (6, [2, 3]), "patella": (7, [4])}


def time_pymskt(labels_path: Path) -> tuple[float, dict[str, float]]:
    """Seconds for pymskt's mesh and thickness of the three bones, and their mean thickness where > 0."""
    import numpy as np
    from pymskt.mesh import BoneMesh

    began = time.perf_counter()
    means = {}
    for bone, (bone_label, cartilage_labels) in PYMSKT_BONES.items():
        mesh = BoneMesh(path_seg_image=str(labels_path), label_idx=bone_label, list_cartilage_labels=cartilage_labels, bone=bone)
        mesh.create_mesh()
        mesh.calc_cartilage_thickness()
        thickness = np.asarray(mesh.point_data["thickness (mm)"])
        means[bone] = float(thickness[thickness > 0].mean())
    return time.perf_counter() - began, means


def time_kneeviewer(labels_path: Path) -> tuple[float, dict[str, float]]:
    """Seconds for the whole kneeviewer pipeline on a fresh results folder, and the mean thickness per bone."""
    from kneeviewer.pipeline import KneeInputs, PipelineParams, run_knee

    out_dir = Path(tempfile.mkdtemp(prefix="kneeviewer-bench-"))
    try:
        began = time.perf_counter()
        results = run_knee(KneeInputs(labels=labels_path, side="right"), out_dir, PipelineParams(render=False))
        seconds = time.perf_counter() - began
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)
    return seconds, {bone: results.summary["bones"][bone]["mean_thickness_mm"] for bone in PYMSKT_BONES}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sample", type=Path, default=DEFAULT_SAMPLE)
    args = parser.parse_args()
    labels = args.sample / "dess_labels.nrrd"

    ours, peer = [], []
    for _ in range(args.repeats):
        seconds, our_means = time_kneeviewer(labels)
        ours.append(seconds)
        seconds, peer_means = time_pymskt(labels)
        peer.append(seconds)
    record = {
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()}, {platform.processor() or 'unknown CPU'}, {__import__('os').cpu_count()} cores",
        "repeats": args.repeats,
        "kneeviewer_run_median_s": statistics.median(ours),
        "pymskt_thickness_median_s": statistics.median(peer),
        "speed_ratio_pymskt_over_kneeviewer": statistics.median(peer) / statistics.median(ours),
        "kneeviewer_mean_thickness_mm": our_means,
        "pymskt_mean_thickness_mm": peer_means,
    }
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
