"""Time kneeviewer's thickness, mesh and projection against pymskt on the sample knee.

Usage::

    python benchmarks/bench_thickness_vs_pymskt.py [--repeats 3] [--labels PATH]

For each bone (femur, tibia, patella) it times kneeviewer's
``thickness_map_mm`` + ``bone_mesh`` + ``project_cartilage`` against
pymskt's ``BoneMesh.create_mesh`` + ``calc_cartilage_thickness`` (PyPI
package ``mskt``, tested with 0.1.22). It prints the median of ``--repeats``
runs and the ratio. It then compares the per-vertex thickness of the two by
matching each kneeviewer vertex to its nearest pymskt vertex. The output is Markdown, ready
for ``docs/benchmarks.md``.

``time_pymskt_bone`` is the reusable pymskt part (the ``kneeviewer run``
benchmark calls it).
"""

from __future__ import annotations

import argparse
import pickle
import platform
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

from kneeviewer.biomarkers.thickness import thickness_map_mm
from kneeviewer.io.labels import BONE_CARTILAGE, default_schema
from kneeviewer.io.volume import read_volume
from kneeviewer.surface.mesh import bone_mesh
from kneeviewer.surface.projection import project_cartilage

SAMPLE_LABELS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "knee-sample" / "dess_labels.nrrd"
BONES = ("femur", "tibia", "patella")


@dataclass
class BoneRun:
    """One bone's result: vertex positions (LPS mm), per-vertex thickness (NaN = none), timings (s), normals."""

    points_mm: np.ndarray
    thickness_mm: np.ndarray
    mesh_s: float
    thickness_s: float
    normals: np.ndarray | None = None

    @property
    def total_s(self) -> float:
        return self.mesh_s + self.thickness_s


def time_pymskt_bone(labels_path: Path, bone_label: int, cartilage_labels: list[int]) -> BoneRun:
    """Run pymskt's bone mesh and ray-cast thickness with its defaults and time both.

    pymskt writes 0 where a vertex has no cartilage; those become NaN here.
    """
    from pymskt.mesh import BoneMesh  # imported here: pymskt is a benchmark peer, not a dependency

    start = time.perf_counter()
    mesh = BoneMesh(path_seg_image=str(labels_path), label_idx=bone_label, list_cartilage_labels=cartilage_labels)
    mesh.create_mesh()
    meshed = time.perf_counter()
    mesh.calc_cartilage_thickness()
    done = time.perf_counter()
    thickness = np.asarray(mesh.point_data["thickness (mm)"], dtype=float)
    return BoneRun(np.asarray(mesh.points), np.where(thickness > 0, thickness, np.nan), meshed - start, done - meshed)


def time_kneeviewer_bone(labels_path: Path, bone: str) -> BoneRun:
    """Run kneeviewer's thickness map, bone mesh and projection for one bone and time them."""
    schema = default_schema()
    labels = read_volume(labels_path)
    cartilage = schema.cartilage_mask(labels.data, bone)
    start = time.perf_counter()
    mesh = bone_mesh(schema.mask(labels.data, bone), labels.geometry, bone)
    meshed = time.perf_counter()
    thickness_map = thickness_map_mm(cartilage, labels.geometry)
    projected = project_cartilage(mesh, cartilage, labels.geometry, thickness_map)["thickness_mm"]
    done = time.perf_counter()
    return BoneRun(
        np.asarray(mesh.points), projected.astype(float), meshed - start, done - meshed, np.asarray(mesh.point_data["Normals"])
    )


def compare_vertices(ours: BoneRun, peer: BoneRun) -> dict[str, float]:
    """Compare thickness at each kneeviewer vertex with the nearest pymskt vertex."""
    distance_mm, nearest = cKDTree(peer.points_mm).query(ours.points_mm)
    peer_at_ours = peer.thickness_mm[nearest]

    both = np.isfinite(ours.thickness_mm) & np.isfinite(peer_at_ours)
    difference = ours.thickness_mm[both] - peer_at_ours[both]
    # A sagittal slice cuts a plate whose normal leans out of the sagittal plane by angle a
    # 1 / cos(a) wider than its true thickness. |n_x| = sin(a) with n_x the LPS x (left-right) component.
    lean = np.abs(ours.normals[:, 0])[both]
    ratio = ours.thickness_mm[both] / peer_at_ours[both]

    by_lean = {}
    for low, high in ((0.0, 0.25), (0.25, 0.5), (0.5, 0.75), (0.75, 1.0)):
        selected = (lean >= low) & (lean < high + 1e-9)
        expected = 1.0 / np.sqrt(1.0 - np.minimum(lean[selected], 0.99) ** 2)
        by_lean[f"vertices with |n_x| in [{low:.2f}, {high:.2f}]"] = float(selected.mean())
        by_lean[f"median ratio, |n_x| in [{low:.2f}, {high:.2f}]"] = float(np.median(ratio[selected])) if selected.any() else np.nan
        by_lean[f"median 1/cos, |n_x| in [{low:.2f}, {high:.2f}]"] = float(np.median(expected)) if selected.any() else np.nan

    return {
        **by_lean,
        "match_distance_median_mm": float(np.median(distance_mm)),
        "ours_covered": int(np.isfinite(ours.thickness_mm).sum()),
        "peer_covered_at_ours": int(np.isfinite(peer_at_ours).sum()),
        "both_covered": int(both.sum()),
        "ours_only": int((np.isfinite(ours.thickness_mm) & ~np.isfinite(peer_at_ours)).sum()),
        "peer_only": int((~np.isfinite(ours.thickness_mm) & np.isfinite(peer_at_ours)).sum()),
        "mean_difference_mm": float(difference.mean()),
        "median_difference_mm": float(np.median(difference)),
        "mean_absolute_difference_mm": float(np.abs(difference).mean()),
        "correlation": float(np.corrcoef(ours.thickness_mm[both], peer_at_ours[both])[0, 1]),
        "ours_mean_both_mm": float(ours.thickness_mm[both].mean()),
        "peer_mean_both_mm": float(peer_at_ours[both].mean()),
        "ours_only_mean_mm": float(np.nanmean(ours.thickness_mm[np.isfinite(ours.thickness_mm) & ~both])),
    }


def _pymskt_runs(arguments: argparse.Namespace, bone: str, bone_label: int, cartilage_labels: list[int]) -> list[BoneRun]:
    cache = arguments.peer_cache
    stored = pickle.loads(cache.read_bytes()) if cache is not None and cache.exists() else {}
    if bone not in stored:
        stored[bone] = [time_pymskt_bone(arguments.labels, bone_label, cartilage_labels) for _ in range(arguments.repeats)]
        if cache is not None:
            cache.write_bytes(pickle.dumps(stored))
    return stored[bone]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs per tool and bone; the median is reported")
    parser.add_argument("--labels", type=Path, default=SAMPLE_LABELS, help="DESS label map with the sample's label values")
    parser.add_argument("--skip-pymskt", action="store_true", help="time kneeviewer only")
    parser.add_argument("--peer-cache", type=Path, help="pickle of pymskt runs: read if present, else written")
    arguments = parser.parse_args()

    schema = default_schema()
    print(f"# command: python benchmarks/bench_thickness_vs_pymskt.py --repeats {arguments.repeats}")
    print(f"# machine: {platform.machine()}, {platform.python_version()}; date {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print()
    print("| bone | kneeviewer vertices | kneeviewer median s (mesh + thickness) | pymskt vertices | pymskt median s (mesh + thickness) | ratio pymskt / kneeviewer | kneeviewer mean mm | pymskt mean mm |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    comparisons = {}
    for bone in BONES:
        ours_runs = [time_kneeviewer_bone(arguments.labels, bone) for _ in range(arguments.repeats)]
        ours = ours_runs[-1]
        ours_mesh = statistics.median(run.mesh_s for run in ours_runs)
        ours_thickness = statistics.median(run.thickness_s for run in ours_runs)
        ours_total = statistics.median(run.total_s for run in ours_runs)
        ours_mean = float(np.nanmean(ours.thickness_mm))
        if arguments.skip_pymskt:
            print(f"| {bone} | {len(ours.points_mm)} | {ours_total:.2f} ({ours_mesh:.2f} + {ours_thickness:.2f}) | - | - | - | {ours_mean:.2f} | - |")
            continue
        bone_label = schema.values(bone)[0]
        cartilage_labels = [value for structure in BONE_CARTILAGE[bone] for value in schema.values(structure)]
        peer_runs = _pymskt_runs(arguments, bone, bone_label, cartilage_labels)
        peer = peer_runs[-1]
        peer_mesh = statistics.median(run.mesh_s for run in peer_runs)
        peer_thickness = statistics.median(run.thickness_s for run in peer_runs)
        peer_total = statistics.median(run.total_s for run in peer_runs)
        print(
            f"| {bone} | {len(ours.points_mm)} | {ours_total:.2f} ({ours_mesh:.2f} + {ours_thickness:.2f}) "
            f"| {len(peer.points_mm)} | {peer_total:.2f} ({peer_mesh:.2f} + {peer_thickness:.2f}) "
            f"| {peer_total / ours_total:.1f} | {ours_mean:.2f} | {np.nanmean(peer.thickness_mm):.2f} |"
        )
        comparisons[bone] = compare_vertices(ours, peer)
    if comparisons:
        print()
        print("Vertex-wise comparison (each kneeviewer vertex against its nearest pymskt vertex):")
        print()
        keys = list(next(iter(comparisons.values())))
        print("| quantity | " + " | ".join(comparisons) + " |")
        print("| --- |" + " --- |" * len(comparisons))
        for key in keys:
            cells = [f"{comparisons[bone][key]:.3g}" for bone in comparisons]
            print(f"| {key} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
