"""Synthetic knees with known truth: the built-in demo knee and the pieces cohorts build on."""

from kneeviewer.phantom.knee import PhantomKnee, PhantomPaths, make_phantom_knee, write_phantom
from kneeviewer.phantom.params import PhantomParams, ThicknessPatch

__all__ = ["PhantomKnee", "PhantomParams", "PhantomPaths", "ThicknessPatch", "make_phantom_knee", "write_phantom"]
