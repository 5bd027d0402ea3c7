"""Runs package commands in forks of one process that imported TensorFlow once.

Why: importing TensorFlow 2.21 (which loads Keras 3 and scikit-learn) costs
about 10 s of CPU on this project's machines, more than most of the docs'
commands take to run on tiny settings. The server process imports the
package the way ``python -m resnet_v2_slim`` does (quiet TensorFlow first),
never runs a TensorFlow op itself, and forks one child per command: the
child is a real process (its own pid, exit status, stdout and stderr
files), started from an interpreter where the imports are done. What an
import prints is checked where it matters: the README's Python blocks and
``test_house``'s real ``python -m`` / ``scripts/`` runs stay fresh processes.

Typical use (a test)::

  with forkserver.ForkServer(cwd=folder, env=env) as server:
    done = server.run(['resnet-v2-slim', 'inspect', 'x.ckpt'], timeout=600)
    assert done.returncode == 0, done.stderr
"""

import json
import os
import select
import signal
import subprocess
import sys
import time
from typing import NamedTuple, Optional, Sequence

# The server: imports once, then forks a child per request line (JSON).
SERVER = r'''
import json, os, runpy, sys, traceback
import resnet_v2_slim
from resnet_v2_slim.cli import main as cli_main
import tensorflow  # noqa: F401

def child(request):
  os.chdir(request['cwd'])
  os.dup2(os.open(os.devnull, os.O_RDONLY), 0)  # requests stay the server's
  for fd, path in ((1, request['stdout']), (2, request['stderr'])):
    handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(handle, fd)
    os.close(handle)
  argv = request['argv']
  sys.argv = list(argv)
  try:
    if argv[0] == 'resnet-v2-slim':
      code = cli_main.main(argv[1:])
    else:
      runpy.run_path(argv[0], run_name='__main__')
      code = 0
  except SystemExit as e:
    code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
  except BaseException:  # the child reports, as a real process would
    traceback.print_exc()
    code = 1
  sys.stdout.flush()
  sys.stderr.flush()
  os._exit(code)

for line in sys.stdin:
  request = json.loads(line)
  pid = os.fork()
  if pid == 0:
    child(request)
  print(json.dumps({'pid': pid}), flush=True)
  _, status = os.waitpid(pid, 0)
  print(json.dumps({'code': os.waitstatus_to_exitcode(status)}), flush=True)
'''


class Done(NamedTuple):
  """What one command did, as ``subprocess.run`` reports it."""
  returncode: int
  stdout: str
  stderr: str


class ForkServer:
  """One server process; ``run`` one command at a time (see module doc)."""

  def __init__(self, *, cwd: str, env: dict):
    self.cwd = cwd
    self.env = env
    self.process: Optional[subprocess.Popen] = None
    self.count = 0

  def __enter__(self) -> 'ForkServer':
    self.process = subprocess.Popen(
        [sys.executable, '-c', SERVER], cwd=self.cwd, env=self.env,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, text=True)
    return self

  def __exit__(self, *exc) -> None:
    self.process.kill()  # ended by its id; its children have exited
    self.process.wait(timeout=60)

  def _reply(self, deadline: float) -> Optional[dict]:
    left = deadline - time.monotonic()
    ready, _, _ = select.select([self.process.stdout], [], [], max(left, 0))
    if not ready:
      return None
    line = self.process.stdout.readline()
    assert line, 'the fork server ended'
    return json.loads(line)

  def run(self, argv: Sequence[str], *, timeout: float) -> Done:
    """Runs argv (``resnet-v2-slim ...`` or ``SCRIPT.py ...``) in a fork.

    Raises:
      subprocess.TimeoutExpired: the command ran past timeout (it is killed).
    """
    self.count += 1
    out = os.path.join(self.cwd, '.fork-%d.out' % self.count)
    err = os.path.join(self.cwd, '.fork-%d.err' % self.count)
    request = {'argv': list(argv), 'cwd': self.cwd, 'stdout': out,
               'stderr': err}
    self.process.stdin.write(json.dumps(request) + '\n')
    self.process.stdin.flush()
    deadline = time.monotonic() + timeout
    pid = self._reply(deadline + 60)['pid']
    reply = self._reply(deadline)
    if reply is None:
      os.kill(pid, signal.SIGKILL)
      self._reply(time.monotonic() + 60)
      for path in (out, err):
        os.remove(path)
      raise subprocess.TimeoutExpired(list(argv), timeout)
    texts = []
    for path in (out, err):
      with open(path, encoding='utf-8', errors='replace') as f:
        texts.append(f.read())
      os.remove(path)
    return Done(reply['code'], *texts)
