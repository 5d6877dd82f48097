"""Live and recorded plots, one view per kind of run, all fed by run documents."""

from __future__ import annotations

from PyQt5.QtWidgets import QStackedWidget

from qslab.gui.plots.ase import ASEView
from qslab.gui.plots.common import RunView
from qslab.gui.plots.g2 import G2View
from qslab.gui.plots.generic import GenericView
from qslab.gui.plots.lasing import LasingView
from qslab.gui.worker import Batch


class RunPlots(QStackedWidget):
    """Shows the view made for the current run's procedure (the generic one for any other)."""

    def __init__(self) -> None:
        super().__init__()
        self.views: list[RunView] = [ASEView(), G2View(), LasingView(), GenericView()]
        for view in self.views:
            self.addWidget(view)
        self.current: RunView = self.views[0]

    def view_for(self, procedure: str) -> RunView:
        return next((v for v in self.views if procedure in v.procedures), self.views[-1])

    def feed(self, batch: Batch) -> None:
        """Record a batch of documents, then redraw what changed, once."""
        for name, doc, received in batch:
            if name == "start":
                self.current = self.view_for(doc.get("procedure", ""))
                self.setCurrentWidget(self.current)
            self.current.feed(name, doc, received)
        for view in self.views:
            view.redraw()
