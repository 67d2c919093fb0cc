"""Cohort statistics: atlas correspondence, point-wise SPM, DL-guided thickness and nested regressions.

Modules: :mod:`~kneeviewer.stats.curvature` (principal curvatures),
:mod:`~kneeviewer.stats.correspondence` (CPD registration and resampling),
:mod:`~kneeviewer.stats.atlas` (reference knee, mapping onto it),
:mod:`~kneeviewer.stats.groups` (TP_pain and TN_nopain),
:mod:`~kneeviewer.stats.spm` and :mod:`~kneeviewer.stats.corrections`
(per-vertex tests, FDR, permutation FWE), :mod:`~kneeviewer.stats.dlguided`,
:mod:`~kneeviewer.stats.regression`, :mod:`~kneeviewer.stats.cohort` (the
whole ``cohort stats`` run) and :mod:`~kneeviewer.stats.figure`.
"""
