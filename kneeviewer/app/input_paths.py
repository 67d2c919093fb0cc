"""Sort the paths given to ``kneeviewer open`` or dropped on the window into knee inputs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kneeviewer.errors import InputError

_IMAGE_SUFFIXES = (".nrrd", ".nhdr", ".nii", ".nii.gz", ".mha", ".mhd")


@dataclass
class OpenRequest:
    """What a set of paths asks the app to open: a results folder, or the inputs of a new run.

    Attributes
    ----------
    results : Path or None
        A finished results folder (has ``summary.json``).
    labels, dess, msme : Path or None
        Label map file, DESS image (file or DICOM folder), MSME DICOM folder.
    """

    results: Path | None = None
    labels: Path | None = None
    dess: Path | None = None
    msme: Path | None = None

    def paths(self) -> list[Path]:
        """Return the paths set, for the recent-files list."""
        return [p for p in (self.results, self.labels, self.dess, self.msme) if p is not None]


def is_results_folder(path: Path) -> bool:
    """Tell whether ``path`` is a finished results folder."""
    return path.is_dir() and (path / "summary.json").is_file()


def is_image_file(path: Path) -> bool:
    """Tell whether ``path`` has the suffix of a 3D image file that SimpleITK reads."""
    name = path.name.lower()
    return path.is_file() and name.endswith(_IMAGE_SUFFIXES)


def echo_count(folder: Path) -> int:
    """Return the largest number of echoes of a DICOM series in ``folder`` (0 if none)."""
    from kneeviewer.io.dicom_scan import find_series

    series = find_series(folder)
    return max((info.n_echoes for info in series), default=0)


def classify_paths(paths: list[str | Path]) -> OpenRequest:
    """Sort paths into a results folder or a label map, a DESS image and an MSME series.

    The first image file is the label map and a second one the DESS image. A
    DICOM folder with several echo times is the MSME series, one with a single
    echo the DESS image.

    Raises
    ------
    InputError
        If a path is missing or of an unknown kind, or no label map or results folder is given.
    """
    request = OpenRequest()
    for raw in paths:
        path = Path(raw).expanduser()
        if not path.exists():
            raise InputError(f"Path not found: {path}. Check the spelling.")
        if is_results_folder(path):
            request.results = path
        elif is_image_file(path):
            if request.labels is None:
                request.labels = path
            else:
                request.dess = path
        elif path.is_dir():
            echoes = echo_count(path)
            if echoes == 0:
                raise InputError(
                    f"{path} contains neither DICOM images nor a results folder (no summary.json). "
                    "Pass a label map file, a DICOM folder or a results folder."
                )
            if echoes > 1:
                request.msme = path
            else:
                request.dess = path
        else:
            raise InputError(
                f"Unknown input {path}: expected a label map ({', '.join(_IMAGE_SUFFIXES)}), a DICOM folder or a results folder."
            )
    if request.results is None and request.labels is None:
        raise InputError("No label map or results folder among the inputs. Add a label map file (for example labels.nrrd).")
    return request
