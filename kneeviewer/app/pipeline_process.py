"""Run the knee pipeline in a child process and relay its progress to the app's worker thread.

Many pipeline steps are C or C++ calls (VTK filters, SimpleITK, scipy.ndimage)
that hold the GIL for up to a second, so a pipeline on a mere thread froze the
GUI in measurements (see ``benchmarks/bench_gui_stall.py``). A spawned process
has its own interpreter, so the GUI thread keeps its event loop running.
This module imports no Qt, so the child process starts without it.
"""

from __future__ import annotations

import logging
import logging.handlers
import multiprocessing
import os
import queue
import traceback
from collections.abc import Callable
from pathlib import Path

from kneeviewer.errors import Cancelled, KneeViewerError

log = logging.getLogger(__name__)

#: Niceness added to the pipeline process (Unix), so the window stays responsive on a loaded machine.
CHILD_NICENESS = 5

#: Seconds between checks of the child's message queue, the cancel flag and the child's liveness.
POLL_S = 0.1


class ChildFailure(Exception):
    """The pipeline failed in the child process; carries the one-line message and the child's traceback."""

    def __init__(self, message: str, details: str) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


def _child_main(kind: str, arguments: dict, messages, cancel_event, log_queue) -> None:
    """Entry point of the child: run the job and put ("progress" | "done" | "cancelled" | "failed", ...) messages."""
    root = logging.getLogger("kneeviewer")
    root.setLevel(logging.DEBUG)
    root.handlers[:] = [logging.handlers.QueueHandler(log_queue)]
    # A lower CPU priority lets the GUI process run first when the cores are busy.
    if hasattr(os, "nice"):
        try:
            os.nice(CHILD_NICENESS)
        except OSError as error:
            log.debug("Could not lower the pipeline process priority: %s", error)
    try:
        from kneeviewer.app.display_data import load_for_display
        from kneeviewer.pipeline import PipelineParams, demo_inputs, run_knee

        def progress(stage: str, fraction: float, message: str = "") -> None:
            messages.put(("progress", stage, float(fraction), message))

        if kind == "demo":
            progress("phantom", 0.0, f"Writing the phantom knee into {arguments['cache_dir']}")
            inputs = demo_inputs(Path(arguments["cache_dir"]))
        else:
            inputs = arguments["inputs"]
        results = run_knee(inputs, Path(arguments["out_dir"]), params=arguments.get("params") or PipelineParams(),
                           progress=progress, should_cancel=cancel_event.is_set)
        progress("display", 1.0, "Reading images for the slice view")
        messages.put(("done", load_for_display(results)))
    except Cancelled as error:
        messages.put(("cancelled", str(error)))
    except KneeViewerError as error:
        messages.put(("failed", str(error), "".join(traceback.format_exception(error))))
    except MemoryError as error:
        messages.put(("failed", "Out of memory. Close other programs or lower the mesh resolution.", "".join(traceback.format_exception(error))))
    except Exception as error:  # noqa: BLE001 - reported to the parent, which shows a dialog
        messages.put(("failed", f"Unexpected error: {type(error).__name__}: {error}", "".join(traceback.format_exception(error))))


def run_in_child(kind: str, arguments: dict, progress: Callable[[str, float, str], None], should_cancel: Callable[[], bool]):
    """Run a pipeline job in a spawned process and return its :class:`~kneeviewer.app.display_data.LoadedResults`.

    Parameters
    ----------
    kind : {"pipeline", "demo"}
        ``"pipeline"`` runs ``arguments["inputs"]``; ``"demo"`` first writes
        the phantom knee into ``arguments["cache_dir"]``.
    arguments : dict
        ``out_dir`` and optionally ``params``, plus ``inputs`` or ``cache_dir``.
    progress, should_cancel
        Called on the calling (worker) thread; ``should_cancel`` is relayed to the child,
        which stops between stages.

    Raises
    ------
    Cancelled
        The user cancelled; finished stages stay on disk.
    ChildFailure
        The job failed or the child process died.
    """
    context = multiprocessing.get_context("spawn")
    messages = context.Queue()
    log_queue = context.Queue()
    cancel_event = context.Event()
    listener = logging.handlers.QueueListener(log_queue, *_parent_handlers(), respect_handler_level=True)
    listener.start()
    child = context.Process(target=_child_main, args=(kind, arguments, messages, cancel_event, log_queue),
                            name=f"kneeviewer-{kind}", daemon=True)
    child.start()
    log.info("Started the %s process (pid %s)", kind, child.pid)
    try:
        while True:
            if should_cancel() and not cancel_event.is_set():
                log.info("Asking the %s process to stop after the current stage", kind)
                cancel_event.set()
            try:
                message = messages.get(timeout=POLL_S)
            except queue.Empty:
                if not child.is_alive():
                    raise ChildFailure(
                        f"The pipeline process stopped unexpectedly (exit code {child.exitcode}). "
                        "It may have run out of memory; close other programs and run again.",
                        f"Process {child.pid} exited with code {child.exitcode} without a result.",
                    ) from None
                continue
            if message[0] == "progress":
                progress(*message[1:])
            elif message[0] == "done":
                return message[1]
            elif message[0] == "cancelled":
                raise Cancelled(message[1])
            else:
                raise ChildFailure(message[1], message[2])
    finally:
        child.join(timeout=10)
        if child.is_alive():
            log.warning("The %s process (pid %s) did not exit; terminating it", kind, child.pid)
            child.terminate()
            child.join(timeout=5)
        listener.stop()


def _parent_handlers() -> list[logging.Handler]:
    """Return the handlers of the parent's ``kneeviewer`` logger, which receive the child's records."""
    return list(logging.getLogger("kneeviewer").handlers)
