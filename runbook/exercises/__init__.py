"""Every notebook's exercise check, one module per exercise; each check cell imports from here.

A check is a plain function over a :class:`~runbook.snapshot.Snapshot` (``read_mesh(cluster)``)
that returns an :class:`~runbook.check_result.ExerciseCheck`: every condition as a ✓/✗ line that
says what holds and, when it does not, what is still wrong and the command that shows it. None of
them raises for an unfinished exercise, and none is tied to the sandbox.

=========  ==============================  ===========================
notebook   check                           module
=========  ==============================  ===========================
00         :func:`check_service_hunt`      :mod:`.diagnosis`
01         :func:`check_bookinfo_exercise` :mod:`.config`
02         :func:`check_broken_namespace`  :mod:`.diagnosis`
03         :func:`check_tag_exercise`      :mod:`.tag`
04         :func:`verify_gateway_homework` :mod:`.config` (reads the cluster and istiod's logs)
05         :func:`check_fault_delay_exercise` :mod:`.latency`
06         :func:`check_report_exercise`   :mod:`.report`
=========  ==============================  ===========================

The names below are imported on first use (:mod:`runbook.lazy`): a check cell loads only its own
exercise's module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from runbook.check_result import ExerciseCheck, not_attempted
from runbook.lazy import lazy_exports

if TYPE_CHECKING:
    from runbook.exercises.config import (
        check_bookinfo_exercise,
        check_gateway_homework,
        verify_gateway_homework,
    )
    from runbook.exercises.diagnosis import check_broken_namespace, check_service_hunt
    from runbook.exercises.latency import check_fault_delay_exercise
    from runbook.exercises.report import check_report_exercise
    from runbook.exercises.tag import check_tag_exercise

#: exported name → the submodule of this package that defines it
_EXPORTS = {
    "check_bookinfo_exercise": "config", "check_gateway_homework": "config",
    "verify_gateway_homework": "config",
    "check_broken_namespace": "diagnosis", "check_service_hunt": "diagnosis",
    "check_fault_delay_exercise": "latency",
    "check_report_exercise": "report",
    "check_tag_exercise": "tag",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = [
    "ExerciseCheck",
    "check_bookinfo_exercise",
    "check_broken_namespace",
    "check_fault_delay_exercise",
    "check_gateway_homework",
    "check_report_exercise",
    "check_service_hunt",
    "check_tag_exercise",
    "not_attempted",
    "verify_gateway_homework",
]
