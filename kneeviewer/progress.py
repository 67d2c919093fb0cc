"""Progress reporting and cancellation shared by the CLI, the app and workers.

Library functions accept ``progress`` (a :data:`ProgressCallback`) and
``should_cancel`` (a :data:`CancelCheck`). Both are optional. The CLI turns
progress into a tqdm bar; the app turns it into a Qt signal.
"""

from __future__ import annotations

from collections.abc import Callable

from kneeviewer.errors import Cancelled

#: ``progress(stage, fraction, message)``: ``stage`` is a short stage name
#: such as ``"thickness"``, ``fraction`` is the overall fraction done in
#: [0, 1] and ``message`` is a human-readable status line.
ProgressCallback = Callable[[str, float, str], None]

#: Returns True when the user asked to stop. Checked between steps.
CancelCheck = Callable[[], bool]


def report(progress: ProgressCallback | None, stage: str, fraction: float, message: str = "") -> None:
    """Send one progress update if a callback is set."""
    if progress is not None:
        progress(stage, min(max(float(fraction), 0.0), 1.0), message)


def check_cancel(should_cancel: CancelCheck | None, stage: str = "") -> None:
    """Raise :class:`~kneeviewer.errors.Cancelled` if the user asked to stop."""
    if should_cancel is not None and should_cancel():
        where = f" before stage '{stage}'" if stage else ""
        raise Cancelled(f"Cancelled by the user{where}; finished stages are kept on disk.")


def sub_progress(progress: ProgressCallback | None, start: float, stop: float) -> ProgressCallback | None:
    """Return a callback that maps a sub-task's [0, 1] onto [start, stop] of the parent."""
    if progress is None:
        return None

    def _scaled(stage: str, fraction: float, message: str = "") -> None:
        progress(stage, start + (stop - start) * fraction, message)

    return _scaled
