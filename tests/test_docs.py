"""README.md and docs/*.md: every code block runs here, or says why not.

Each block is preceded by a marker comment:
- ``<!-- run -->``: every command (shell) or the whole block (Python) runs
  in the document's sandbox folder (one per document, its blocks in order)
  holding the files the docs name (a reference resnet_v2_50 checkpoint at
  ``resnet_v2_50.ckpt``, ``cat.jpg``, ``my_images/``,
  ``records/validation-*``) and must exit 0;
- ``<!-- run with ARGS -->``: the same, with ARGS appended to each command
  (tiny settings where the real run is long; the last flag wins);
- ``<!-- not run: REASON -->``: not run here, for the reason given.
A block without a marker fails the test, so new docs cannot drift silently.

Package commands (``resnet-v2-slim ...``, ``python scripts/...``) run in
forks of one process that imported the package and TensorFlow once
(``forkserver.py``: each a real process with its own exit status, stdout
and stderr); Python blocks and any other command run as fresh processes,
so what an import prints is still checked.
"""

import glob
import os
import re
import shlex
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import forkserver
import refnets

ROOT = os.path.join(os.path.dirname(__file__), '..')
DOCS = ['README.md'] + sorted(
    os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, 'docs',
                                                             '*.md')))
MARKER = re.compile(r'^\s*<!-- (run|run with (.+?)|not run: (.+?)) -->\s*$')
TIMEOUT = 600
LITERT_LINE = 'INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n'


def blocks(path):
  """(line, language, code, marker) for each fenced or indented block."""
  lines = open(os.path.join(ROOT, path), encoding='utf-8').read().split('\n')
  i = 0
  while i < len(lines):
    line = lines[i]
    fence = re.match(r'^\s*```(\w*)', line)
    indented = (line.startswith('    ') and line.strip() and
                (i == 0 or not lines[i - 1].strip()) and
                not lines[i].lstrip().startswith(('|', '-', '*')))
    if not fence and not indented:
      i += 1
      continue
    before = [l for l in lines[:i] if l.strip()]
    marker = MARKER.match(before[-1]) if before else None
    start = i
    if fence:
      i += 1
      body = []
      while not lines[i].strip().startswith('```'):
        body.append(lines[i])
        i += 1
      language = fence.group(1) or 'sh'
    else:
      indent = len(line) - len(line.lstrip())
      body = []
      while i < len(lines) and (not lines[i].strip() or
                                len(lines[i]) - len(lines[i].lstrip())
                                >= indent):
        body.append(lines[i][indent:])
        i += 1
      language = 'sh'
    i += 1
    yield start + 1, language, '\n'.join(body).strip('\n'), marker


ALL = [(path,) + block for path in DOCS for block in blocks(path)]


def test_every_block_is_run_or_says_why_not():
  unmarked = ['%s:%d' % (path, line) for path, line, _, _, marker in ALL
              if marker is None]
  assert not unmarked, unmarked
  for path, line, _, _, marker in ALL:
    if marker.group(3) is not None:
      assert len(marker.group(3)) > 10, ('%s:%d: say why' % (path, line))
      for named in re.findall(r'tests/\w+\.py', marker.group(3)):
        assert os.path.isfile(os.path.join(ROOT, named)), (path, line, named)


def commands(code):
  """Shell commands of a block: continuation lines joined, comments off."""
  text = code.replace('\\\n', ' ')
  return [re.sub(r'\s+#.*$', '', l).strip() for l in text.split('\n')
          if l.strip() and not l.strip().startswith('#')]


class Sandboxes:
  """doc path -> a folder of its own holding what the docs' commands name.

  One per document, so each document runs alone (pytest-xdist runs the
  documents of this module on both workers: see conftest.py). A folder
  goes once its document's last block passed and none failed (a failed
  one stays for the run, to look at): the exports of full-size networks
  take hundreds of MB per document.
  """

  def __init__(self, tmp_path_factory, saved):
    self.factory, self.saved = tmp_path_factory, saved
    self.made, self.failed = {}, set()

  def get(self, path):
    if path not in self.made:
      self.made[path] = _sandbox(self.factory.mktemp('docs'), self.saved)
    return self.made[path]

  def block_done(self, path, line, passed):
    if not passed:
      self.failed.add(path)
    elif line == LAST_LINE[path] and path not in self.failed:
      shutil.rmtree(self.made.pop(path), ignore_errors=True)


@pytest.fixture(scope='module')
def sandboxes(tmp_path_factory, saved):
  return Sandboxes(tmp_path_factory, saved)


def _sandbox(root, saved):
  from resnet_v2_slim.data import tfrecords  # pylint: disable=g-import-not-at-top
  prefix, _ = saved('rn50_v1_1001')
  try:   # a link, not a 100 MB copy per document: commands only read it
    os.link(str(prefix), str(root / 'resnet_v2_50.ckpt'))
  except OSError:
    shutil.copy(str(prefix), str(root / 'resnet_v2_50.ckpt'))
  rng = np.random.RandomState(0)
  for name in ('cat.jpg', 'dog.png'):
    Image.fromarray(rng.randint(0, 256, (40, 50, 3), np.uint8)).save(
        root / name)
  refnets.image_folder(root / 'my_images', ('ant', 'bee'))
  tfrecords.convert_folder(str(root / 'my_images'), str(root / 'records'),
                           num_shards=2, name='validation',
                           log=lambda _: None)
  return root


RUN = [(path, line, language, code, marker.group(2) or '')
       for path, line, language, code, marker in ALL
       if marker is not None and marker.group(3) is None]
LAST_LINE = {path: line for path, line, _, _, _ in RUN}   # RUN is in order


@pytest.fixture(scope='module')
def server(tmp_path_factory):
  """Runs the docs' package commands in forks: see forkserver.py for why."""
  with forkserver.ForkServer(cwd=str(tmp_path_factory.mktemp('server')),
                             env=ENV) as running:
    yield running


ENV = dict(os.environ, PYTHONPATH=os.path.abspath(ROOT))
PACKAGE_COMMAND = re.compile(r'^(resnet-v2-slim|python scripts/\w+\.py)\s')


def run_command(command, sandbox, server):
  """Runs one docs command: a package command in a fork, others in a shell."""
  if PACKAGE_COMMAND.match(command) and not re.search(r'[|&;<>$`]', command):
    argv = shlex.split(command)
    if argv[0] == 'python':
      argv = [os.path.join(os.path.abspath(ROOT), argv[1])] + argv[2:]
    return server.run(argv, timeout=TIMEOUT, cwd=str(sandbox))
  command = re.sub(r'^resnet-v2-slim\b', '%s -m resnet_v2_slim'
                   % sys.executable, command)
  command = re.sub(r'^python\b', sys.executable, command)
  command = command.replace(' scripts/', ' %s/scripts/'
                            % os.path.abspath(ROOT))
  return subprocess.run(command, shell=True, cwd=str(sandbox),
                        capture_output=True, text=True, timeout=TIMEOUT,
                        env=ENV, check=False)


@pytest.mark.parametrize('path,line,language,code,extra', RUN,
                         ids=['%s:%d' % (r[0], r[1]) for r in RUN])
def test_the_block_runs(path, line, language, code, extra, sandboxes,
                        server):
  passed = False
  try:
    _run_block(path, line, language, code, extra, sandboxes.get(path),
               server)
    passed = True
  finally:
    sandboxes.block_done(path, line, passed)


def _run_block(path, line, language, code, extra, sandbox, server):
  if language == 'python':
    done = subprocess.run([sys.executable, '-c', code], cwd=str(sandbox),
                          capture_output=True, text=True, timeout=TIMEOUT,
                          env=ENV, check=False)
    assert done.returncode == 0, (path, line, done.stderr[-3000:])
    # Quiet; LiteRT's own line, which deploy.md names, is the engine's.
    stderr = done.stderr.replace(LITERT_LINE, '')
    assert stderr == '', (path, line, done.stderr[-3000:])
    return
  for command in commands(code):
    if extra:
      command += ' ' + extra
    done = run_command(command, sandbox, server)
    assert done.returncode == 0, (path, line, command, done.stderr[-3000:])
    # Quiet: no TensorFlow log lines, warnings or tracebacks.
    assert not re.search(r'^(I0000|W0000|WARNING:tensorflow|Traceback)|'
                         r'Warning:', done.stderr, re.M), (
                             path, line, command, done.stderr[-3000:])
