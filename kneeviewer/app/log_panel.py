"""Dockable log panel fed by the ``kneeviewer`` logger from any thread."""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import QDockWidget, QPlainTextEdit

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _Relay(QObject):
    """Carries formatted records to the GUI thread (queued signal)."""

    record = Signal(str)


class QtLogHandler(logging.Handler):
    """Logging handler that emits each formatted record as a Qt signal.

    Worker threads log too, so the handler never touches a widget: the signal
    is delivered on the GUI thread by Qt's queued connection.
    """

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.relay = _Relay()
        self.setFormatter(logging.Formatter(_FORMAT, datefmt="%H:%M:%S"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.relay.record.emit(self.format(record))
        except RuntimeError:
            # The relay is gone when the window closed before a worker's last message.
            pass


class LogDock(QDockWidget):
    """Read-only log view of the ``kneeviewer`` logger, as a dock widget."""

    def __init__(self, parent=None) -> None:
        super().__init__("Log", parent)
        self.setObjectName("LogDock")
        self.text = QPlainTextEdit(self)
        self.text.setReadOnly(True)
        self.text.setMaximumBlockCount(5000)
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.setWidget(self.text)
        self.handler = QtLogHandler()
        self.handler.relay.record.connect(self.text.appendPlainText)
        logging.getLogger("kneeviewer").addHandler(self.handler)
        logging.getLogger("kneeviewer").setLevel(logging.DEBUG)

    def detach(self) -> None:
        """Stop receiving log records (call when the window closes)."""
        logging.getLogger("kneeviewer").removeHandler(self.handler)


def add_log_file(path) -> logging.Handler:
    """Also write the ``kneeviewer`` log to ``path`` and return the handler."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter(_FORMAT))
    logging.getLogger("kneeviewer").addHandler(handler)
    return handler
