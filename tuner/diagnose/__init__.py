"""Step 6 of the procedure: read learning curves and prescribe.

``diagnose(history)`` returns which of eight fixed codes hold (``diverged``,
``lr-too-low``, ``not-learning``, ``unstable``, ``overfitting``,
``underfitting``, ``still-improving``, ``good-fit``), each with its evidence
and concrete ``--hp`` advice, and a verdict. Curves are judged against the
task's chance level (recorded by tune in every history) and, when known,
against the best accuracy other runs of the task reached (``reference``). ``load_curves(path)`` reads curves from any training (CSV or JSON);
``diagnose_and_save`` also writes the annotated PNG and the JSON result
(what ``tune run`` calls after each training).
"""

from __future__ import annotations

from tuner.diagnose.diagnosis import diagnose
from tuner.diagnose.curves import RunCurves, load_curves, read_curves
from tuner.diagnose.report import diagnose_and_save
from tuner.diagnose.result import CODES, DiagnoseResult, Diagnosis

__all__ = ["CODES", "DiagnoseResult", "Diagnosis", "RunCurves", "diagnose", "diagnose_and_save",
           "load_curves", "read_curves"]
