"""Exception hierarchy of kneeviewer.

Every message names the file or value at fault, what was expected and what
the user can do next. The CLI prints ``str(error)`` on one line and the app
shows it in a dialog, so messages must read well without a traceback.
"""


class KneeViewerError(Exception):
    """Base class of every error that kneeviewer raises on purpose."""


class InputError(KneeViewerError):
    """An input file, folder or value is missing, unreadable or invalid."""


class SeriesError(InputError):
    """A DICOM series is incomplete, inconsistent or ambiguous."""


class SchemaError(InputError):
    """A label schema is invalid or does not match a label map."""


class FitError(KneeViewerError):
    """A model fit (T2 relaxometry, regression) cannot produce a result."""


class PipelineError(KneeViewerError):
    """A pipeline stage failed for a reason other than bad input."""


class Cancelled(KneeViewerError):
    """The user cancelled a running job; finished stages stay on disk."""
