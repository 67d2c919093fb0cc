"""Off-screen rendering of bone meshes with pyvista; never imports Qt."""

from kneeviewer.visual.render import render_bones

__all__ = ["render_bones"]
