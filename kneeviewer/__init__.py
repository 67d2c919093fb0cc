"""kneeviewer: knee MRI biomarkers on bone surfaces and chronic-pain models.

Implements the method of Morales et al., "Uncovering associations between
data-driven learned qMRI biomarkers and chronic pain", Scientific Reports
11:21989 (2021), doi:10.1038/s41598-021-01111-x.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("kneeviewer")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
