"""Many knees at once: the per-knee pipeline on a Dask cluster on this machine.

Each knee runs in its own task with its own results folder, so a failing
knee is recorded and the others go on. Knees whose ``summary.json`` already
exists are skipped, so an interrupted batch resumes where it stopped.
Cancelling stops new knees from starting; a knee already running finishes
its current stage (Dask cannot stop a running task).
"""

from __future__ import annotations

import csv
import re
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from kneeviewer.errors import InputError, KneeViewerError
from kneeviewer.io.paths import ensure_output_folder
from kneeviewer.io.side import normalise_side
from kneeviewer.pipeline.params import KneeInputs, PipelineParams
from kneeviewer.progress import CancelCheck, ProgressCallback, check_cancel, report

log = logging.getLogger(__name__)

TABLE_COLUMNS = ("knee_id", "labels", "dess", "msme", "schema", "side")

#: A knee id names a folder under the batch's output folder, so it must not contain a path.
_KNEE_ID = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")


@dataclass(frozen=True)
class BatchOutcome:
    """Outcome of one knee of a batch."""

    knee_id: str
    status: str  # "done", "skipped" (finished earlier) or "failed"
    out_dir: Path
    error: str = ""
    seconds: float = 0.0


def read_knee_table(path: str | Path) -> list[tuple[str, KneeInputs]]:
    """Read a CSV table of knees with columns ``knee_id, labels[, dess, msme, schema, side]``.

    Relative paths are taken relative to the table's folder.

    Raises
    ------
    InputError
        If the file is missing, lacks a column or repeats a knee id.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"Knee table not found: {path}.")
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in ("knee_id", "labels") if c not in (reader.fieldnames or [])]
        if missing:
            raise InputError(f"Knee table {path} lacks the column(s) {', '.join(missing)}; "
                             f"expected the header {','.join(TABLE_COLUMNS)}.")
        knees: list[tuple[str, KneeInputs]] = []
        seen: set[str] = set()
        for line, row in enumerate(reader, start=2):
            knee_id = (row.get("knee_id") or "").strip()
            if not knee_id:
                raise InputError(f"Knee table {path}, line {line}: knee_id is empty.")
            if knee_id in seen:
                raise InputError(f"Knee table {path}, line {line}: knee_id {knee_id!r} is repeated.")
            if not _KNEE_ID.fullmatch(knee_id):
                raise InputError(
                    f"Knee table {path}, line {line}: knee_id {knee_id!r} is invalid; it names the knee's results "
                    "folder, so use letters, digits, '.', '_' and '-' only, not starting with '.'."
                )
            seen.add(knee_id)
            side = (row.get("side") or "").strip() or None
            try:
                side = normalise_side(side)
            except InputError as error:
                raise InputError(f"Knee table {path}, line {line}: {error}") from None

            def resolve(column: str) -> Path | None:
                value = (row.get(column) or "").strip()
                if not value:
                    return None
                candidate = Path(value)
                return candidate if candidate.is_absolute() else path.parent / candidate

            knees.append((knee_id, KneeInputs(labels=resolve("labels"), dess=resolve("dess"), msme=resolve("msme"),
                                              schema=resolve("schema"), side=side)))
    return knees


def _run_one(knee_id: str, inputs: KneeInputs, out_dir: Path, params: PipelineParams) -> BatchOutcome:
    # Runs inside a Dask worker: configure nothing global, return plain data.
    from kneeviewer.pipeline.knee import run_knee

    began = time.perf_counter()
    try:
        run_knee(inputs, out_dir, params)
    except KneeViewerError as error:
        return BatchOutcome(knee_id, "failed", out_dir, str(error), time.perf_counter() - began)
    return BatchOutcome(knee_id, "done", out_dir, "", time.perf_counter() - began)


def run_batch(
    knees: Iterable[tuple[str, KneeInputs]],
    out_root: str | Path,
    params: PipelineParams | None = None,
    *,
    workers: int = 2,
    progress: ProgressCallback | None = None,
    should_cancel: CancelCheck | None = None,
) -> list[BatchOutcome]:
    """Run the per-knee pipeline for every knee, ``workers`` knees at a time.

    Results go to ``out_root/<knee_id>/``; ``out_root/batch.csv`` lists the
    outcome of every knee. With ``workers`` of 1 the knees run one after the
    other in this process (no cluster is started).
    """
    from dask.distributed import Client, LocalCluster, as_completed

    params = params or PipelineParams(render=False)
    out_root = ensure_output_folder(out_root)
    knees = list(knees)
    outcomes: list[BatchOutcome] = []
    pending = []
    for knee_id, inputs in knees:
        out_dir = out_root / knee_id
        if (out_dir / "summary.json").is_file():
            outcomes.append(BatchOutcome(knee_id, "skipped", out_dir))
        else:
            pending.append((knee_id, inputs, out_dir))
    total = len(knees)
    report(progress, "batch", len(outcomes) / max(total, 1), f"{len(outcomes)} of {total} knees finished earlier")

    if workers <= 1:
        for knee_id, inputs, out_dir in pending:
            check_cancel(should_cancel, f"knee {knee_id}")
            outcomes.append(_run_one(knee_id, inputs, out_dir, params))
            report(progress, "batch", len(outcomes) / total, f"{knee_id}: {outcomes[-1].status}")
    elif pending:
        # The dashboard is off and the scheduler listens on loopback only.
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                          host="127.0.0.1", dashboard_address=None) as cluster, Client(cluster) as client:
            futures = [client.submit(_run_one, knee_id, inputs, out_dir, params, key=f"knee-{knee_id}", pure=False)
                       for knee_id, inputs, out_dir in pending]
            try:
                for future in as_completed(futures):
                    outcome = future.result()
                    outcomes.append(outcome)
                    if outcome.status == "failed":
                        log.error("Knee %s failed: %s", outcome.knee_id, outcome.error)
                    report(progress, "batch", len(outcomes) / total, f"{outcome.knee_id}: {outcome.status}")
                    check_cancel(should_cancel, "the next knee")
            finally:
                for future in futures:
                    future.cancel()
    _write_outcomes(out_root / "batch.csv", outcomes)
    return outcomes


def _write_outcomes(path: Path, outcomes: list[BatchOutcome]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["knee_id", "status", "out_dir", "seconds", "error"])
        for outcome in sorted(outcomes, key=lambda o: o.knee_id):
            writer.writerow([outcome.knee_id, outcome.status, str(outcome.out_dir), f"{outcome.seconds:.1f}", outcome.error])
