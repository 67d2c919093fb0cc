"""Start the Qt application and the main window for the ``kneeviewer`` GUI commands."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from PySide6.QtCore import QEventLoop, QStandardPaths, QTimer
from PySide6.QtWidgets import QApplication

log = logging.getLogger(__name__)


def default_work_dir() -> Path:
    """Return the per-user folder for app runs, the demo knee and the log file."""
    location = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppLocalDataLocation)
    return Path(location or Path.home() / ".kneeviewer")


def ensure_application() -> QApplication:
    """Return the running QApplication, creating it if needed."""
    app = QApplication.instance()
    if app is None:
        app = QApplication(sys.argv[:1])
        app.setOrganizationName("kneeviewer")
        app.setApplicationName("kneeviewer")
        icon = Path(__file__).resolve().parents[2] / "resources" / "icon.png"
        if icon.is_file():
            from PySide6.QtGui import QIcon

            app.setWindowIcon(QIcon(str(icon)))
    return app


def run_window(*, paths: list | None = None, demo: bool = False, screenshot: Path | None = None,
               work_dir: Path | None = None, view: str | None = None, array: str | None = None) -> int:
    """Open the main window, optionally on inputs or the demo knee, and run the event loop.

    Parameters
    ----------
    paths : list of path, optional
        Inputs to open (label map, DICOM folders, results folder).
    demo : bool
        Run the pipeline on the built-in phantom knee.
    screenshot : Path, optional
        Save an image of the window once the results are shown, then quit.
        Exit status 0 on success, 1 if the run failed or was cancelled.
    work_dir : Path, optional
        Folder for runs and the log file; the per-user data folder by default.
    view : str, optional
        Initial camera preset.
    array : str, optional
        Initial point array; ignored with a warning when the bones lack it.

    Returns
    -------
    int
        Exit status.
    """
    from kneeviewer.app.main_window import MainWindow

    app = ensure_application()
    window = MainWindow(work_dir or default_work_dir())
    status = {"code": 0}
    if view is not None:
        window.bone_view.view_name = view
    if array is not None:
        window.preferred_array = array
    if demo:
        window.results_shown.connect(window.pick_thickest_femur_vertex)
    # A local loop instead of app.exec() and app.quit(): quitting the application
    # would also end event loops of an embedding program (or of a test run).
    loop = QEventLoop()
    app.lastWindowClosed.connect(loop.quit)

    if screenshot is not None:
        def save_and_quit() -> None:
            # Give the views one more event loop pass to paint before grabbing.
            QTimer.singleShot(500, lambda: (window.save_window_screenshot(screenshot), loop.quit()))

        def fail_and_quit(message: str) -> None:
            # The window already logged the error; stderr gets it once, as every command does.
            print(f"kneeviewer: error: {message} No screenshot written.", file=sys.stderr)
            status["code"] = 2
            loop.quit()

        window.results_shown.connect(save_and_quit)
        window.job_failed.connect(fail_and_quit)
        window.job_cancelled.connect(fail_and_quit)

    window.show()
    if demo:
        QTimer.singleShot(0, window.run_demo)
    elif paths:
        QTimer.singleShot(0, lambda: window.open_paths(list(paths)))
    elif screenshot is not None:
        QTimer.singleShot(300, lambda: (window.save_window_screenshot(screenshot), loop.quit()))
    loop.exec()
    app.lastWindowClosed.disconnect(loop.quit)
    if window.isVisible():
        window.close()
    return status["code"]
