"""Off-screen rendering of bone meshes with pyvista; never imports Qt."""

import os
import sys

if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
    # Without a display VTK first tries X11, prints a warning, then falls back to
    # EGL; asking for EGL at once keeps stderr clean for CLI users.
    os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")

from kneeviewer.visual.render import render_bones  # noqa: E402

__all__ = ["render_bones"]
