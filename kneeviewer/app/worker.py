"""Background jobs of the app: the knee pipeline and loading a results folder.

Jobs run on a :class:`QThread` and hand back plain data (meshes, arrays,
volumes) through signals. They never touch VTK rendering or widgets; the
GUI thread does that when the ``finished`` signal arrives.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QObject, QThread, Signal

from kneeviewer.errors import Cancelled, KneeViewerError

log = logging.getLogger(__name__)


@dataclass
class LoadedResults:
    """What a finished job hands to the GUI thread.

    Attributes
    ----------
    results : KneeResults
        Meshes, spherical maps and summary of one knee.
    volumes : dict of str to Volume
        Images for the slice view in right-knee convention: ``"labels"``,
        and where available ``"dess"``, ``"t2_ms"`` and ``"msme"``
        (a MultiEchoVolume).
    """

    results: object
    volumes: dict = field(default_factory=dict)


def read_display_volumes(results) -> dict:
    """Read the images listed in ``results.volumes`` and orient them like the meshes.

    A volume that cannot be read is skipped with a warning, because the 3D
    results are still worth showing.
    """
    from kneeviewer.io.side import to_right_convention
    from kneeviewer.io.volume import read_volume

    side = (results.summary or {}).get("side") or "right"
    volumes = {}
    for name, path in results.volumes.items():
        path = Path(path)
        try:
            if path.is_dir():
                from kneeviewer.io import dicom

                volume = dicom.read_series(path)
            else:
                volume = read_volume(path)
            volumes[name] = to_right_convention(volume, side)
        except (KneeViewerError, OSError, RuntimeError, ImportError) as error:
            log.warning("Could not read %s image %s for the slice view: %s", name, path, error)
    msme = (results.summary or {}).get("inputs", {}).get("msme")
    if msme:
        try:
            from kneeviewer.io import dicom

            series = (results.summary or {}).get("inputs", {}).get("msme_series")
            volumes["msme"] = to_right_convention(dicom.read_multi_echo(Path(msme), series), side)
        except (KneeViewerError, OSError, RuntimeError, ImportError) as error:
            log.warning("Could not read the MSME series %s for the slice view: %s", msme, error)
    return volumes


def error_details(error: BaseException) -> str:
    """Return the traceback of ``error`` as text for the details section of a dialog."""
    return "".join(traceback.format_exception(type(error), error, error.__traceback__))


class Job(QObject):
    """A function run on a worker thread with progress, cancel and result signals.

    Signals
    -------
    progress(stage, fraction, message)
        Forwarded from the job's progress callback.
    finished(object)
        The job's return value (a :class:`LoadedResults`).
    failed(message, details)
        A one-line message and the traceback.
    cancelled(message)
        The user cancelled; finished stages stay on disk.
    """

    progress = Signal(str, float, str)
    finished = Signal(object)
    failed = Signal(str, str)
    cancelled = Signal(str)

    def __init__(self, function: Callable, name: str) -> None:
        super().__init__()
        self.name = name
        self._function = function
        self._cancel = threading.Event()

    def cancel(self) -> None:
        """Ask the job to stop at its next check (thread-safe)."""
        self._cancel.set()

    def is_cancelled(self) -> bool:
        """Tell whether cancel was requested."""
        return self._cancel.is_set()

    def run(self) -> None:
        """Run the function; called on the worker thread."""
        try:
            value = self._function(self._report, self._cancel.is_set)
        except Cancelled as error:
            log.info("%s cancelled: %s", self.name, error)
            self.cancelled.emit(str(error))
        except KneeViewerError as error:
            log.error("%s failed: %s", self.name, error)
            self.failed.emit(str(error), error_details(error))
        except MemoryError as error:
            log.error("%s ran out of memory", self.name)
            self.failed.emit("Out of memory. Close other programs or lower the mesh resolution.", error_details(error))
        except Exception as error:  # noqa: BLE001 - shown to the user in a dialog, never as a crash
            log.exception("%s failed with an unexpected error", self.name)
            self.failed.emit(f"Unexpected error: {type(error).__name__}: {error}", error_details(error))
        else:
            self.finished.emit(value)

    def _report(self, stage: str, fraction: float, message: str = "") -> None:
        self.progress.emit(stage, float(fraction), message)


def pipeline_job(inputs, out_dir: Path, params=None) -> Job:
    """Return a job that runs the knee pipeline and reads its images for display."""

    def work(progress, should_cancel):
        from kneeviewer.pipeline import PipelineParams, run_knee

        results = run_knee(inputs, Path(out_dir), params=params or PipelineParams(), progress=progress, should_cancel=should_cancel)
        progress("display", 1.0, "Reading images for the slice view")
        return LoadedResults(results, read_display_volumes(results))

    return Job(work, "Pipeline")


def results_job(results_dir: Path) -> Job:
    """Return a job that reads a finished results folder and its images."""

    def work(progress, should_cancel):
        from kneeviewer.pipeline import load_results

        progress("load", 0.1, f"Reading results from {results_dir}")
        results = load_results(Path(results_dir))
        progress("load", 0.6, "Reading images for the slice view")
        return LoadedResults(results, read_display_volumes(results))

    return Job(work, "Loading results")


class JobRunner(QObject):
    """Owns the worker thread of one job at a time.

    Signals
    -------
    done()
        The thread stopped, whatever the outcome.
    """

    done = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.job: Job | None = None
        self.thread: QThread | None = None

    def is_running(self) -> bool:
        """Tell whether a job is still running."""
        return self.thread is not None and self.thread.isRunning()

    def start(self, job: Job) -> None:
        """Move ``job`` to a new thread and start it."""
        if self.is_running():
            raise RuntimeError("A job is already running; cancel it first.")
        thread = QThread()
        thread.setObjectName(f"kneeviewer-{job.name}")
        job.moveToThread(thread)
        thread.started.connect(job.run)
        for signal in (job.finished, job.failed, job.cancelled):
            signal.connect(thread.quit)
        thread.finished.connect(self._thread_finished)
        self.job, self.thread = job, thread
        thread.start()

    def cancel(self) -> None:
        """Ask the running job to stop between stages."""
        if self.job is not None:
            self.job.cancel()

    def wait(self, timeout_ms: int = -1) -> bool:
        """Block until the thread stops; for shutdown and tests."""
        if self.thread is None:
            return True
        return self.thread.wait(timeout_ms) if timeout_ms >= 0 else self.thread.wait()

    def _thread_finished(self) -> None:
        self.thread = None
        self.job = None
        self.done.emit()


def demo_job(cache_dir: Path, out_dir: Path, params=None) -> Job:
    """Return a job that writes the phantom knee (once) and runs the pipeline on it."""

    def work(progress, should_cancel):
        from kneeviewer.pipeline import PipelineParams, demo_inputs, run_knee

        progress("phantom", 0.0, f"Writing the phantom knee into {cache_dir}")
        inputs = demo_inputs(Path(cache_dir))
        results = run_knee(inputs, Path(out_dir), params=params or PipelineParams(), progress=progress, should_cancel=should_cancel)
        progress("display", 1.0, "Reading images for the slice view")
        return LoadedResults(results, read_display_volumes(results))

    return Job(work, "Demo pipeline")
