"""Fixtures of the app tests: temporary settings, a main window and the sample knee run once through the GUI."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QEventLoop, QTimer

from kneeviewer.app.settings import use_settings_folder

#: Longest wait for one pipeline run on the sample knee (about 25 s on 2 cores when idle).
PIPELINE_TIMEOUT_S = 300


@pytest.fixture(scope="session", autouse=True)
def temporary_settings(tmp_path_factory) -> Path:
    """Keep QSettings (recent files, layout, locked ranges) out of the user's profile."""
    folder = tmp_path_factory.mktemp("qsettings")
    use_settings_folder(folder)
    return folder


def wait_for_any(signals, timeout_s: float) -> tuple[int, tuple]:
    """Run the Qt event loop until one of ``signals`` fires; return its index and arguments.

    Raises TimeoutError after ``timeout_s``. Works outside pytest-qt's
    function-scoped ``qtbot``, for session fixtures.
    """
    loop = QEventLoop()
    fired: list = []
    connections = []
    for index, signal in enumerate(signals):
        def handler(*args, index=index):
            fired.append((index, args))
            loop.quit()

        signal.connect(handler)
        connections.append((signal, handler))
    QTimer.singleShot(int(timeout_s * 1000), loop.quit)
    loop.exec()
    for signal, handler in connections:
        signal.disconnect(handler)
    if not fired:
        raise TimeoutError(f"No signal within {timeout_s} s")
    return fired[0]


@pytest.fixture
def window(qtbot, tmp_path):
    """A shown main window with its own work folder and settings; closed after the test."""
    from kneeviewer.app.main_window import MainWindow

    use_settings_folder(tmp_path / "qsettings")

    main_window = MainWindow(tmp_path / "work")
    qtbot.addWidget(main_window)
    main_window.show()
    qtbot.waitExposed(main_window)
    yield main_window
    main_window.close()


@pytest.fixture(scope="session")
def sample_results_dir(knee_sample_dir, tmp_path_factory, qapp) -> Path:
    """Results folder of the real sample knee, made once per session by a run started from the window."""
    from kneeviewer.app.main_window import MainWindow
    from kneeviewer.pipeline import KneeInputs

    out_dir = tmp_path_factory.mktemp("sample") / "results"
    main_window = MainWindow(out_dir.parent / "work")
    main_window.show()
    main_window.start_run(KneeInputs(labels=knee_sample_dir / "dess_labels.nrrd"), out_dir)
    index, args = wait_for_any([main_window.results_shown, main_window.job_failed, main_window.job_cancelled], PIPELINE_TIMEOUT_S)
    main_window.close()
    if index != 0:
        pytest.fail(f"The sample knee pipeline did not finish in the window: {args}")
    return out_dir
