"""Concurrent requests gathered into one model run.

Hand-written because KServe's Python model server has no batcher (in a
cluster, KServe's batcher is its Go agent beside the container; Triton and
TF Serving batch inside their servers): without one, eight clients make
eight runs of batch 1. A request waits at most ``timeout_s`` for others to
join it, and a run holds at most ``max_batch_size`` images; runs are made
one at a time on one thread (the engines' sessions are not shared across
threads, and one run already uses every core).

Typical use (inside the server's event loop)::

    batcher = Batcher(model.run, max_batch_size=16, timeout_s=0.005)
    outputs = await batcher.submit(images)   # {name: [len(images), ...]}
"""

import asyncio
import collections
import concurrent.futures
import dataclasses
from typing import Any, Callable, Deque, Dict, List, Optional

import numpy as np


@dataclasses.dataclass
class _Request:
  items: List[Any]
  done: asyncio.Future


class Batcher:
  """Runs ``run_fn(items) -> {name: array [len(items), ...]}`` on batches.

  Args:
    run_fn: the model's run over a list of items.
    max_batch_size: the most items in one run; 0 runs each request alone,
      at once (batching off).
    timeout_s: how long a request waits for others to join it.
  """

  def __init__(self, run_fn: Callable[[List[Any]], Dict[str, np.ndarray]],
               *, max_batch_size: int, timeout_s: float) -> None:
    self._run_fn = run_fn
    self.max_batch_size, self.timeout_s = max_batch_size, timeout_s
    self._pending: Deque[_Request] = collections.deque()
    self._wake: Optional[asyncio.Event] = None
    self._worker: Optional[asyncio.Task] = None
    self._thread = concurrent.futures.ThreadPoolExecutor(
        max_workers=1, thread_name_prefix='model')

  async def submit(self, items: List[Any]) -> Dict[str, np.ndarray]:
    """The outputs for ``items``, run with whatever else is waiting."""
    loop = asyncio.get_running_loop()
    if not self.max_batch_size:
      return await loop.run_in_executor(self._thread, self._run_fn, items)
    if self._worker is None:   # started in the loop that serves
      self._wake = asyncio.Event()
      self._worker = loop.create_task(self._work())
    request = _Request(items, loop.create_future())
    self._pending.append(request)
    self._wake.set()
    return await request.done

  async def _work(self) -> None:
    loop = asyncio.get_running_loop()
    while True:
      await self._wake.wait()
      self._wake.clear()
      while self._pending:
        batch = await self._gather(loop)
        items = [item for r in batch for item in r.items]
        try:
          out = await loop.run_in_executor(self._thread, self._run_fn, items)
        except Exception as exc:  # pylint: disable=broad-except
          if len(batch) == 1:
            if not batch[0].done.done():
              batch[0].done.set_exception(exc)
          else:   # one request's items must not fail the others': each alone
            await self._one_by_one(loop, batch)
          continue
        start = 0
        for r in batch:
          end = start + len(r.items)
          if not r.done.done():
            r.done.set_result({k: v[start:end] for k, v in out.items()})
          start = end

  async def _one_by_one(self, loop, batch: List[_Request]) -> None:
    """Runs each request of a failed batch alone: the one at fault gets
    its own error, the others their answers."""
    for r in batch:
      try:
        out = await loop.run_in_executor(self._thread, self._run_fn, r.items)
      except Exception as exc:  # pylint: disable=broad-except
        if not r.done.done():
          r.done.set_exception(exc)
        continue
      if not r.done.done():
        r.done.set_result(out)

  async def _gather(self, loop) -> List[_Request]:
    """The next batch: the oldest request, and those that join it within
    ``timeout_s`` while the batch has room."""
    batch = [self._pending.popleft()]
    size = len(batch[0].items)
    deadline = loop.time() + self.timeout_s
    while size < self.max_batch_size:
      if not self._pending:
        left = deadline - loop.time()
        if left <= 0:
          break
        try:
          await asyncio.wait_for(self._wake.wait(), left)
        except asyncio.TimeoutError:
          break
        self._wake.clear()
        continue
      if size + len(self._pending[0].items) > self.max_batch_size:
        break
      request = self._pending.popleft()
      batch.append(request)
      size += len(request.items)
    return batch

  def close(self) -> None:
    """Stops the worker and the model thread (requests waiting fail)."""
    if self._worker is not None and not self._worker.done():
      try:
        self._worker.cancel()
      except RuntimeError:    # its loop is closed: nothing runs it any more
        pass
    self._thread.shutdown(wait=False, cancel_futures=True)
