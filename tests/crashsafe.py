"""pytest-xdist's ``--dist loadgroup`` that survives a crashed worker.

Why hand-written: in pytest-xdist 3.8.0 (the newest release) a worker that
dies (a segfault in an engine, the OOM killer, pytest-timeout ending a hang)
can leave the run waiting forever, the CI job then killed with no test
named (pytest-dev/pytest-xdist#1323, #1327, #1378; the fixes are merged
after 3.8.0). The group scheduler puts back every unit the dead worker ever
ran, finished ones too, and a finished unit sent to a worker starts nothing,
so nothing asks for the next one; a replacement worker given a single test
waits for a second that never comes. It also runs the test that crashed
again on the replacement (#1371). This scheduler, chosen by
``pytest_xdist_make_scheduler`` (xdist's own hook) in conftest.py, puts
back only the tests not run, reports the crashed test once, and keeps every
worker holding two tests or its shutdown.

Typical use (conftest.py)::

  from crashsafe import pytest_xdist_make_scheduler  # noqa: F401
"""

from typing import Optional

import pytest
from xdist.scheduler import LoadGroupScheduling


class CrashSafeLoadGroup(LoadGroupScheduling):
  """``LoadGroupScheduling`` with the three crash fixes above."""

  def remove_node(self, node) -> Optional[str]:
    workload = self.assigned_work.pop(node)
    pending = [(scope, nodeid) for scope, unit in workload.items()
               for nodeid, done in unit.items() if not done]
    if not pending:
      return None   # a worker that finished its work
    scope, crashed = pending[0]   # a worker runs its tests in order
    workload[scope][crashed] = True   # failed once, never run again
    for scope, unit in workload.items():
      if not all(unit.values()):   # only units with tests still to run
        self.workqueue[scope] = unit
        self.workqueue.move_to_end(scope, last=False)
    for other in self.assigned_work:
      self._reschedule(other)
    return crashed

  def _reschedule(self, node) -> None:
    super()._reschedule(node)
    # A worker starts a test once it holds the next one (or shutdown):
    # units are given until it holds two pending tests, then shutdown when
    # nothing is left.
    while (not node.shutting_down and node in self.assigned_work and
           self._pending_of(self.assigned_work[node]) < 2):
      if not self.workqueue:
        node.shutdown()
        return
      self._assign_work_unit(node)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
  """The crash-safe scheduler for ``--dist loadgroup``; xdist's otherwise."""
  if config.getvalue('dist') == 'loadgroup':
    return CrashSafeLoadGroup(config, log)
  return None
