"""Persistent user settings (recent files, last folders, window layout) through QSettings.

Settings are stored as an INI file in Qt's per-user location. Tests point
that location at a temporary folder with :func:`use_settings_folder`.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings

ORGANIZATION = "kneeviewer"
APPLICATION = "kneeviewer"

#: How many recent inputs the File menu lists.
MAX_RECENT = 8


def use_settings_folder(folder: str | Path) -> None:
    """Store every later QSettings of this process under ``folder`` (for tests and portable use)."""
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(folder))


def app_settings() -> QSettings:
    """Return the settings object of the application (INI format, user scope)."""
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORGANIZATION, APPLICATION)


def recent_paths() -> list[list[str]]:
    """Return the recently opened inputs, newest first; each entry is a list of paths."""
    value = app_settings().value("recent/inputs", [])
    entries = value if isinstance(value, list) else [value]
    result = []
    for entry in entries:
        if isinstance(entry, str) and entry:
            result.append(entry.split("\n"))
    return result


def add_recent(paths: list[Path]) -> None:
    """Put a set of opened inputs at the top of the recent list."""
    key = "\n".join(str(Path(p)) for p in paths)
    entries = ["\n".join(entry) for entry in recent_paths()]
    entries = [key] + [entry for entry in entries if entry != key]
    app_settings().setValue("recent/inputs", entries[:MAX_RECENT])


def last_folder(kind: str) -> str:
    """Return the last folder used for ``kind`` ("labels", "dicom", "export", ...), or the home folder."""
    value = app_settings().value(f"folders/{kind}", "")
    return str(value) if value and Path(str(value)).exists() else str(Path.home())


def remember_folder(kind: str, path: str | Path) -> None:
    """Store the folder of ``path`` (or ``path`` itself if it is a folder) as the last one for ``kind``."""
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    app_settings().setValue(f"folders/{kind}", str(folder))
