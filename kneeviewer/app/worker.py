"""Background jobs of the app: the knee pipeline and loading a results folder.

Jobs run on a :class:`QThread` and hand back plain data (meshes, arrays,
volumes) through signals. They never touch VTK rendering or widgets; the
GUI thread does that when the ``finished`` signal arrives. Pipeline jobs
also move the computation into a child process (see
:mod:`kneeviewer.app.pipeline_process`), so that GIL-holding steps cannot
stall the GUI thread.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QThread, Signal

from kneeviewer.app.display_data import LoadedResults, load_for_display
from kneeviewer.app.pipeline_process import ChildFailure, run_in_child
from kneeviewer.errors import Cancelled, KneeViewerError

__all__ = ["Job", "JobRunner", "LoadedResults", "demo_job", "pipeline_job", "results_job"]

log = logging.getLogger(__name__)


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
        except ChildFailure as error:
            log.error("%s failed: %s", self.name, error.message)
            self.failed.emit(error.message, error.details)
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
        finally:
            # Quit directly from the worker thread: a queued quit would never
            # run if the GUI event loop has already stopped.
            QThread.currentThread().quit()

    def _report(self, stage: str, fraction: float, message: str = "") -> None:
        self.progress.emit(stage, float(fraction), message)


def pipeline_job(inputs, out_dir: Path, params=None) -> Job:
    """Return a job that runs the knee pipeline in a child process and reads its images for display."""

    def work(progress, should_cancel):
        arguments = {"inputs": inputs, "out_dir": str(out_dir), "params": params}
        return run_in_child("pipeline", arguments, progress, should_cancel)

    return Job(work, "Pipeline")


def results_job(results_dir: Path) -> Job:
    """Return a job that reads a finished results folder and its images."""

    def work(progress, should_cancel):
        from kneeviewer.pipeline import load_results

        progress("load", 0.1, f"Reading results from {results_dir}")
        results = load_results(Path(results_dir))
        progress("load", 0.6, "Reading images for the slice view")
        return load_for_display(results)

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
        if self.thread is not None:
            # QThread.finished is emitted just before the thread exits, and Qt aborts the
            # process if a QThread is destroyed while still running, so wait for the exit
            # before the last reference goes.
            self.thread.wait()
        self.thread = None
        self.job = None
        self.done.emit()


def demo_job(cache_dir: Path, out_dir: Path, params=None) -> Job:
    """Return a job that writes the phantom knee (once) and runs the pipeline on it in a child process."""

    def work(progress, should_cancel):
        arguments = {"cache_dir": str(cache_dir), "out_dir": str(out_dir), "params": params}
        return run_in_child("demo", arguments, progress, should_cancel)

    return Job(work, "Demo pipeline")
