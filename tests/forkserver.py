"""Runs package commands in forks of one process that imported TensorFlow once.

Why: importing TensorFlow 2.21 (which loads Keras 3 and scikit-learn) costs
about 10 s of CPU on this project's machines, more than most commands take
to run on tiny settings. The server process imports the package the way
``python -m resnet_v2_slim`` does (quiet TensorFlow first), never runs a
TensorFlow op itself (so a child can still split the CPU into logical
devices or start a worker's server), and forks one child per command: the
child is a real process (its own pid, environment, working folder, exit
status, stdout and stderr files; signals reach it), started from an
interpreter where the imports are done. Several children may run at once
(the workers of one cluster). What an import prints is checked where it
matters: the README's Python blocks and ``test_house``'s real
``python -m`` / ``scripts/`` runs stay fresh processes.

Typical use (a test)::

  with forkserver.ForkServer(cwd=folder, env=env) as server:
    done = server.run(['resnet-v2-slim', 'inspect', 'x.ckpt'], timeout=600)
    assert done.returncode == 0, done.stderr
    child = server.start(['resnet-v2-slim', 'train', ...], log='w0.log')
    child.send_signal(signal.SIGTERM)
    assert child.wait(timeout=120) == 75
"""

import json
import os
import select
import signal
import subprocess
import sys
import time
from typing import Dict, List, NamedTuple, Optional, Sequence

# The server: imports once, then forks a child per request line (JSON) and
# reports each child's pid when started and its exit code when reaped.
SERVER = r'''
import atexit, json, os, runpy, select, sys, tempfile, traceback
import resnet_v2_slim
from resnet_v2_slim.cli import main as cli_main
import tensorflow  # noqa: F401

def child(request):
  os.chdir(request['cwd'])
  os.environ.clear()
  os.environ.update(request['env'])
  tempfile.tempdir = None   # the child's own TMPDIR, as a fresh process
  os.dup2(os.open(os.devnull, os.O_RDONLY), 0)  # requests stay the server's
  out = os.open(request['stdout'], os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
                0o644)
  err = out if request['stderr'] == request['stdout'] else os.open(
      request['stderr'], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
  os.dup2(out, 1)
  os.dup2(err, 2)
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
  atexit._run_exitfuncs()   # as at a real exit: autograph's files go
  sys.stdout.flush()
  sys.stderr.flush()
  os._exit(code)

def say(reply):
  os.write(1, (json.dumps(reply) + '\n').encode())

pending = b''
while True:
  if select.select([0], [], [], 0.05)[0]:
    data = os.read(0, 65536)
    if not data:
      break
    pending += data
    while b'\n' in pending:
      line, pending = pending.split(b'\n', 1)
      pid = os.fork()
      if pid == 0:
        child(json.loads(line))
      say({'pid': pid})
  while True:
    try:
      pid, status = os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
      break
    if pid == 0:
      break
    say({'exited': pid, 'code': os.waitstatus_to_exitcode(status)})
'''


class Done(NamedTuple):
  """What one command did, as ``subprocess.run`` reports it."""
  returncode: int
  stdout: str
  stderr: str


class Child:
  """One forked command, used like a ``subprocess.Popen``."""

  def __init__(self, server: 'ForkServer', pid: int, argv: List[str],
               stdout: str, stderr: str):
    self.server = server
    self.pid = pid
    self.args = argv
    self.stdout_path = stdout
    self.stderr_path = stderr
    self.returncode: Optional[int] = None

  def poll(self) -> Optional[int]:
    """The exit code, or None while the child runs."""
    if self.returncode is None:
      self.server.read_replies(0)
      self.returncode = self.server.exited.pop(self.pid, None)
    return self.returncode

  def wait(self, timeout: float) -> int:
    """The exit code; kills the child and raises TimeoutExpired after
    ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while self.poll() is None:
      if time.monotonic() > deadline:
        self.kill()
        raise subprocess.TimeoutExpired(self.args, timeout)
      self.server.read_replies(min(0.2, max(deadline - time.monotonic(), 0)))
    return self.returncode

  def send_signal(self, sig: int) -> None:
    if self.poll() is None:
      os.kill(self.pid, sig)

  def kill(self) -> None:
    """Ends the child by its id and waits until the server reaped it."""
    if self.poll() is None:
      os.kill(self.pid, signal.SIGKILL)
      deadline = time.monotonic() + 60
      while self.poll() is None and time.monotonic() < deadline:
        self.server.read_replies(0.2)

  def output(self) -> str:
    """What the child wrote to its stdout file so far."""
    if not os.path.exists(self.stdout_path):
      return ''   # the child has not opened it yet
    with open(self.stdout_path, encoding='utf-8', errors='replace') as f:
      return f.read()


class ForkServer:
  """One server process; ``start`` or ``run`` commands (see module doc)."""

  def __init__(self, *, cwd: str, env: dict):
    self.cwd = cwd
    self.env = env
    self.process: Optional[subprocess.Popen] = None
    self.count = 0
    self.children: List[Child] = []
    self.exited: Dict[int, int] = {}
    self._pending = b''

  def __enter__(self) -> 'ForkServer':
    self.log = os.path.join(self.cwd, '.fork-server.err')
    with open(self.log, 'w') as err:
      self.process = subprocess.Popen(
          [sys.executable, '-c', SERVER], cwd=self.cwd, env=self.env,
          stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err)
    return self

  def __exit__(self, *exc) -> None:
    for child in self.children:
      if child.returncode is None and child.pid not in self.exited:
        try:
          os.kill(child.pid, signal.SIGKILL)   # ended by its id
        except ProcessLookupError:
          pass
    self.process.kill()
    self.process.wait(timeout=60)

  def read_replies(self, timeout: float) -> Optional[dict]:
    """Reads what the server said within ``timeout`` s; returns the last
    start reply ({'pid': ...}) if any, records exit codes in ``exited``."""
    started = None
    fd = self.process.stdout.fileno()
    if select.select([fd], [], [], timeout)[0]:
      data = os.read(fd, 65536)
      if not data:
        with open(self.log) as f:
          raise AssertionError('the fork server ended: ' + f.read()[-2000:])
      self._pending += data
    while b'\n' in self._pending:
      line, self._pending = self._pending.split(b'\n', 1)
      reply = json.loads(line)
      if 'exited' in reply:
        self.exited[reply['exited']] = reply['code']
      else:
        started = reply
    return started

  def start(self, argv: Sequence[str], *, log: Optional[str] = None,
            env: Optional[dict] = None, cwd: Optional[str] = None) -> Child:
    """Starts argv (``resnet-v2-slim ...`` or ``SCRIPT.py ...``) in a fork.

    Args:
      argv: the command line.
      log: a file for stdout and stderr together; without it each goes to
        its own file in the server's folder, read back by ``Done``.
      env: the child's whole environment (default: the server's).
      cwd: the child's working folder (default: the server's).
    """
    self.count += 1
    base = os.path.join(self.cwd, '.fork-%d' % self.count)
    out, err = (log, log) if log else (base + '.out', base + '.err')
    request = {'argv': list(argv), 'cwd': cwd or self.cwd,
               'env': dict(env if env is not None else self.env),
               'stdout': out, 'stderr': err}
    self.process.stdin.write((json.dumps(request) + '\n').encode())
    self.process.stdin.flush()
    deadline = time.monotonic() + 60
    started = None
    while started is None:
      assert time.monotonic() < deadline, 'the fork server does not answer'
      started = self.read_replies(1)
    child = Child(self, started['pid'], list(argv), out, err)
    self.children.append(child)
    return child

  def run(self, argv: Sequence[str], *, timeout: float,
          env: Optional[dict] = None, cwd: Optional[str] = None) -> Done:
    """Runs argv in a fork to its end: its exit code, stdout and stderr.

    Raises:
      subprocess.TimeoutExpired: the command ran past timeout (it is killed).
    """
    child = self.start(argv, env=env, cwd=cwd)
    try:
      code = child.wait(timeout)
      texts = []
      for path in (child.stdout_path, child.stderr_path):
        with open(path, encoding='utf-8', errors='replace') as f:
          texts.append(f.read())
      return Done(code, *texts)
    finally:
      for path in (child.stdout_path, child.stderr_path):
        if os.path.exists(path):
          os.remove(path)
