"""The desktop application, ``qslab gui``: PyQt5 + pyqtgraph on the same engine and documents as
the command line (DESIGN.md principle 3).

Nothing here imports Qt at package level: the live-fit worker process imports
:mod:`qslab.gui.livefit` and needs only QtCore.
"""
