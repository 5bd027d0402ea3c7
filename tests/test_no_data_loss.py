"""No command overwrites or deletes what it reads or what the user keeps.

Every case hashes the files before and after and compares (issue: data loss).
"""

import hashlib
import os
import signal
import stat
import time

import pytest
import tensorflow.compat.v1 as tf

from resnet_v2_slim import checkpoint
from resnet_v2_slim.utils import fileio
from resnet_v2_slim.cli import export as export_cmd
from resnet_v2_slim.cli import time_forward as time_forward_cmd
from resnet_v2_slim.cli import train as train_cmd


def tree_hashes(root):
  """{relative path: sha256} of every file below ``root``."""
  hashes = {}
  for folder, _, files in os.walk(root):
    for name in files:
      path = os.path.join(folder, name)
      with open(path, 'rb') as f:
        hashes[os.path.relpath(path, root)] = hashlib.sha256(
            f.read()).hexdigest()
  return hashes


def _run(main, capsys, argv):
  code = main(argv)
  out, err = capsys.readouterr()
  return code, out, err


@pytest.fixture
def run_folder(saved, tmp_path):
  """A copy of a reference V2 checkpoint in its own run folder, plus notes."""
  prefix, _ = saved('rn50_v2_1000')
  folder = tmp_path / 'run'
  folder.mkdir()
  for name in os.listdir(os.path.dirname(prefix)):
    if name.startswith(os.path.basename(prefix)):
      with open(os.path.join(os.path.dirname(prefix), name), 'rb') as f:
        (folder / name).write_bytes(f.read())
  (folder / 'notes.txt').write_text('my notes\n')
  return folder, str(folder / os.path.basename(prefix))


# --- the mechanism, by hand ------------------------------------------------

@pytest.mark.parametrize('output, other, relation', [
    ('a/b', 'a/b', 'is'),
    ('a', 'a/b/c.index', 'contains'),
    ('a/b/out', 'a/b', 'lies inside'),
])
def test_check_outputs_names_the_relation(tmp_path, output, other, relation):
  with pytest.raises(fileio.OutputPathError) as info:
    fileio.check_outputs([('--out', str(tmp_path / output))],
                           [('--in', str(tmp_path / other))])
  assert '--out %s %s the input --in' % (tmp_path / output, relation) in str(
      info.value)


def test_check_outputs_sees_through_links_and_between_outputs(tmp_path):
  (tmp_path / 'real').mkdir()
  os.symlink(tmp_path / 'real', tmp_path / 'link')
  with pytest.raises(fileio.OutputPathError, match='the input --in'):
    fileio.check_outputs([('--out', str(tmp_path / 'link' / 'x'))],
                           [('--in', str(tmp_path / 'real' / 'x'))])
  with pytest.raises(fileio.OutputPathError, match='the other output --b'):
    fileio.check_outputs([('--a', str(tmp_path / 'p')),
                            ('--b', str(tmp_path / 'p'))])
  # Siblings with a common name prefix do not overlap.
  fileio.check_outputs([('--out', str(tmp_path / 'model'))],
                         [('--in', str(tmp_path / 'model.ckpt'))])


def test_atomic_files_get_the_users_mode(tmp_path):
  old = os.umask(0o022)
  try:
    fileio.atomic_write_text(str(tmp_path / 'new.json'), '{}')
  finally:
    os.umask(old)
  assert stat.S_IMODE(os.stat(tmp_path / 'new.json').st_mode) == 0o644
  os.chmod(tmp_path / 'new.json', 0o640)
  fileio.atomic_write_text(str(tmp_path / 'new.json'), '[]')
  assert stat.S_IMODE(os.stat(tmp_path / 'new.json').st_mode) == 0o640


def test_input_paths_lists_every_file_of_a_checkpoint(saved):
  prefix, _ = saved('rn50_v2_1000')
  files = [p for _, p in checkpoint.input_paths(prefix + '.index')]
  assert files[0] == prefix + '.index'
  assert prefix + '.index' in files[1:]
  assert any('.data-00000-of-00001' in f for f in files)
  v1, _ = saved('rn50_v1_1001')
  assert [p for _, p in checkpoint.input_paths(v1)] == [v1, v1]


# --- export ----------------------------------------------------------------

def test_export_refuses_a_folder_that_is_not_a_saved_model(
    run_folder, capsys, tmp_path):
  folder, prefix = run_folder
  notes = tmp_path / 'notes'
  notes.mkdir()
  (notes / 'todo.txt').write_text('keep me')
  before = tree_hashes(tmp_path)
  code, _, err = _run(export_cmd.main, capsys, [
      '--checkpoint', prefix, '--saved_model_dir', str(notes),
      '--image_size', '32'])
  assert code == 2
  assert 'does not hold a SavedModel (it has todo.txt)' in err
  # The run folder holding the checkpoint, and '.' around it.
  for target in (str(folder), '.'):
    cwd = os.getcwd()
    os.chdir(folder)
    try:
      code, _, err = _run(export_cmd.main, capsys, [
          '--checkpoint', prefix, '--saved_model_dir', target])
    finally:
      os.chdir(cwd)
    assert code == 2 and 'contains the input --checkpoint' in err
  assert tree_hashes(tmp_path) == before


def test_export_replaces_an_earlier_saved_model(saved, capsys, tmp_path):
  prefix, _ = saved('rn50_v2_1000')
  target = tmp_path / 'saved'
  argv = ['--checkpoint', prefix, '--saved_model_dir', str(target),
          '--image_size', '32']
  assert _run(export_cmd.main, capsys, argv)[0] == 0
  first = tree_hashes(target)
  assert 'saved_model.pb' in first
  assert _run(export_cmd.main, capsys, argv)[0] == 0
  assert set(tree_hashes(target)) == set(first)
  assert sorted(os.listdir(tmp_path)) == ['saved']   # no .old-* left behind


def _old_and_new_folders(tmp_path):
  """An output folder holding an old export and a finished new one beside
  it, as ``replace_dir`` gets them."""
  target = tmp_path / 'out'
  target.mkdir()
  (target / 'model.xml').write_text('old model')
  (target / 'old-only.bin').write_text('old weights')
  new = fileio.temporary_path(str(target), folder=True)
  with open(os.path.join(new, 'model.xml'), 'w') as f:
    f.write('new model')
  return target, new


def test_replace_dir_swaps_in_the_new_folder_and_drops_the_old(tmp_path,
                                                               monkeypatch):
  swaps = []
  exchange = fileio.exchange_paths

  def spy(a, b):
    assert exchange(a, b)   # the real atomic swap (Linux renameat2)
    swaps.append((a, b))
    return True
  monkeypatch.setattr(fileio, 'exchange_paths', spy)
  target, new = _old_and_new_folders(tmp_path)
  fileio.replace_dir(new, str(target))
  assert swaps == [(new, str(target))]
  assert tree_hashes(target) == {
      'model.xml': hashlib.sha256(b'new model').hexdigest()}
  assert sorted(os.listdir(tmp_path)) == ['out']   # the old one nowhere
  contents = {open(os.path.join(folder, name)).read()
              for folder, _, files in os.walk(tmp_path) for name in files}
  assert contents == {'new model'}


def test_replace_dir_without_an_exchange_still_replaces(tmp_path,
                                                        monkeypatch):
  def unavailable(a, b):
    del a, b
    return False   # no renameat2 here: nothing swapped
  monkeypatch.setattr(fileio, 'exchange_paths', unavailable)
  target, new = _old_and_new_folders(tmp_path)
  fileio.replace_dir(new, str(target))
  assert sorted(os.listdir(target)) == ['model.xml']
  assert (target / 'model.xml').read_text() == 'new model'
  assert sorted(os.listdir(tmp_path)) == ['out']


def test_an_interrupted_replace_dir_leaves_the_old_folder(tmp_path,
                                                          monkeypatch):
  def interrupted(a, b):
    raise OSError(5, 'Input/output error')
  monkeypatch.setattr(fileio, 'exchange_paths', interrupted)
  target, new = _old_and_new_folders(tmp_path)
  before = tree_hashes(target)
  with pytest.raises(OSError):
    fileio.replace_dir(new, str(target))
  assert tree_hashes(target) == before
  assert (target / 'model.xml').read_text() == 'old model'


def test_replace_dir_into_a_new_path(tmp_path):
  new = fileio.temporary_path(str(tmp_path / 'out'), folder=True)
  with open(os.path.join(new, 'model.xml'), 'w') as f:
    f.write('new model')
  fileio.replace_dir(new, str(tmp_path / 'out'), plain_modes=True)
  assert sorted(os.listdir(tmp_path)) == ['out']
  assert (tmp_path / 'out' / 'model.xml').read_text() == 'new model'
  assert stat.S_IMODE(os.stat(tmp_path / 'out').st_mode) & 0o500 == 0o500


def test_export_output_onto_its_checkpoint_is_refused(saved, capsys,
                                                      tmp_path):
  v1, _ = saved('rn50_v1_1001')
  before = tree_hashes(os.path.dirname(v1))
  code, _, err = _run(export_cmd.main, capsys, [
      '--checkpoint', v1, '--output_file', v1])
  assert code == 2 and '--output_file %s is the input --checkpoint' % v1 in err
  v2, _ = saved('rn50_v2_1000')
  code, _, err = _run(export_cmd.main, capsys, [
      '--checkpoint', v2, '--output_file', v2 + '.index'])
  assert code == 2 and 'is the input --checkpoint' in err
  assert tree_hashes(os.path.dirname(v1)) == before


def test_export_two_outputs_on_one_path_is_refused(saved, capsys, tmp_path):
  prefix, _ = saved('rn50_v2_1000')
  target = str(tmp_path / 'p')
  code, _, err = _run(export_cmd.main, capsys, [
      '--checkpoint', prefix, '--output_file', target, '--saved_model_dir',
      target])
  assert code == 2
  assert 'is the other output --saved_model_dir' in err
  assert os.listdir(tmp_path) == []


def test_time_forward_json_onto_its_checkpoint_is_refused(run_folder,
                                                          capsys):
  folder, prefix = run_folder
  before = tree_hashes(folder)
  code, _, err = _run(time_forward_cmd.main, capsys, [
      '--model', 'resnet_v2_50', '--checkpoint', prefix + '.index', '--json',
      prefix + '.index', '--image_size', '32', '--batch_size', '1',
      '--num_batches', '1', '--num_burn_in', '0'])
  assert code == 2 and '--json %s.index is the input --checkpoint' % (
      prefix) in err
  assert tree_hashes(folder) == before


# --- train ---------------------------------------------------------------

TRAIN = ['--model', 'resnet_v2_18', '--batch_size', '4', '--log_every', '1',
         '--save_every', '1']


def test_train_resumes_from_the_newest_checkpoint_that_exists(capsys,
                                                              tmp_path):
  run = str(tmp_path / 'run')
  assert _run(train_cmd.main, capsys,
              TRAIN + ['--train_dir', run, '--steps', '3'])[0] == 0
  for name in os.listdir(run):          # model.ckpt-3 is lost
    if name.startswith('model.ckpt-3'):
      os.unlink(os.path.join(run, name))
  kept = {k: v for k, v in tree_hashes(run).items()
          if k.startswith('model.ckpt-2')}
  assert {'model.ckpt-2.index', 'model.ckpt-2.data-00000-of-00001'} <= set(
      kept)
  code, out, err = _run(train_cmd.main, capsys,
                        TRAIN + ['--train_dir', run, '--steps', '4'])
  assert code == 0, err
  assert 'model.ckpt-3, which is missing' in out
  assert 'resuming from %s (step 2)' % os.path.join(run, 'model.ckpt-2') in out
  assert {k: v for k, v in tree_hashes(run).items() if k in kept} == kept
  assert checkpoint.latest_checkpoint(run)[0].endswith('model.ckpt-4')


def test_a_relative_train_dir_resumes_without_a_false_warning(
    tmp_path, monkeypatch):
  # The state file names "model.ckpt-4"; get_checkpoint_state joins it to
  # the folder already, and joining again gave run/run/model.ckpt-4.
  monkeypatch.chdir(tmp_path)
  with tf.Graph().as_default(), tf.Session() as sess:
    tf.Variable(1.0, name='v')
    saver = tf.train.Saver()
    sess.run(tf.global_variables_initializer())
    for step in (2, 4):
      saver.save(sess, os.path.join('run', 'model.ckpt'), global_step=step)
  assert 'model_checkpoint_path: "model.ckpt-4"' in open(
      os.path.join('run', 'checkpoint')).read()
  latest, note = checkpoint.latest_checkpoint('run')
  assert os.path.normpath(latest) == os.path.join('run', 'model.ckpt-4')
  assert note is None


def test_train_refuses_a_state_file_without_checkpoints(capsys, tmp_path):
  run = tmp_path / 'run'
  run.mkdir()
  (run / 'checkpoint').write_text('model_checkpoint_path: "model.ckpt-7"\n')
  before = tree_hashes(run)
  code, _, err = _run(train_cmd.main, capsys,
                      TRAIN + ['--train_dir', str(run), '--steps', '2'])
  assert code == 2 and 'no checkpoint files exist there' in err
  assert tree_hashes(run) == before


def test_train_dir_may_not_overlap_its_inputs(saved, capsys, tmp_path):
  data_dir = tmp_path / 'images'
  (data_dir / 'a').mkdir(parents=True)
  before = tree_hashes(tmp_path)
  code, _, err = _run(train_cmd.main, capsys, TRAIN + [
      '--train_dir', str(data_dir / 'run'), '--data_dir', str(data_dir)])
  assert code == 2 and 'lies inside the input --data_dir' in err
  prefix, _ = saved('rn50_v2_1000')
  ckpt_before = tree_hashes(os.path.dirname(prefix))
  code, _, err = _run(train_cmd.main, capsys, [
      '--model', 'resnet_v2_50', '--checkpoint', prefix, '--train_dir',
      os.path.dirname(prefix)])
  assert code == 2 and 'contains the input --checkpoint' in err
  assert tree_hashes(tmp_path) == before
  assert tree_hashes(os.path.dirname(prefix)) == ckpt_before


# --- a real full disk (a tiny tmpfs; skipped where mounting is not allowed)
@pytest.fixture
def full_disk(tmp_path):
  """A 1 MiB tmpfs: too small for any checkpoint or export of a network."""
  import subprocess  # pylint: disable=g-import-not-at-top
  mount = tmp_path / 'small_disk'
  mount.mkdir()
  made = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=1m', 'tmpfs',
                         str(mount)], capture_output=True, timeout=30,
                        check=False)
  if made.returncode != 0:
    pytest.skip('cannot mount a tmpfs here (needs root and the mount '
                'capability): %s' % made.stderr.decode()[:100])
  try:
    yield mount
  finally:
    subprocess.run(['umount', '-l', str(mount)], capture_output=True,
                   timeout=30, check=False)


def _tiny_checkpoint(folder):
  from resnet_v2_slim.nets import nets_factory  # pylint: disable=g-import-not-at-top
  with tf.Graph().as_default():
    fn = nets_factory.get_network_fn('resnet_v2_18', 10)
    fn(tf.placeholder(tf.float32, [1, 32, 32, 3]))
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      return tf.train.Saver().save(sess, str(folder / 'rn18.ckpt'))


def test_a_real_full_disk_is_one_line_and_keeps_what_was_there(
    full_disk, capsys, tmp_path):
  from resnet_v2_slim.cli import convert as convert_cmd  # pylint: disable=g-import-not-at-top
  import refnets  # pylint: disable=g-import-not-at-top
  prefix = _tiny_checkpoint(tmp_path)
  (full_disk / 'm.pb').write_bytes(b'my earlier export')
  before = tree_hashes(full_disk)
  code, _, err = _run(export_cmd.main, capsys, [
      '--checkpoint', prefix, '--image_size', '32', '--output_file',
      str(full_disk / 'm.pb')])
  assert code == 2 and err.count('\n') == 1, err
  assert 'No space left on device' in err and 'earlier files are intact' \
      in err
  assert tree_hashes(full_disk) == before   # no temporary left either
  # Training: the failed save says so in one line and leaves no
  # temporaries that would keep the disk full.
  code, _, err = _run(train_cmd.main, capsys, [
      '--model', 'resnet_v2_18', '--train_dir', str(full_disk / 'run'),
      '--steps', '1', '--batch_size', '2', '--save_every', '1'])
  assert code == 2 and err.count('\n') == 1, err
  assert 'No space left on device' in err or 'space' in err.lower(), err
  leftovers = [name for name in os.listdir(full_disk / 'run')
               if 'tmp' in name or 'tempstate' in name]
  assert not leftovers, leftovers
  # Shards: one line, the finished ones and labels.txt as they were.
  images = refnets.image_folder(tmp_path / 'img', ('a', 'b'), 20,
                                (200, 200), 0)
  code, _, err = _run(convert_cmd.main, capsys, [
      '--data_dir', str(images), '--output_dir', str(full_disk / 'shards'),
      '--num_shards', '2'])
  assert code == 2 and err.count('\n') == 1, err
  assert not [n for n in os.listdir(full_disk / 'shards')
              if n.startswith('.')]   # no half-written temporary


def test_a_disk_too_full_for_the_lock_is_one_line_and_leaves_nothing(
    full_disk, capsys):
  """Found by the adversarial run: a traceback at the lock file and a
  0-byte .lock left behind."""
  with open(full_disk / 'fill', 'wb', buffering=0) as f:   # every block
    try:
      while True:
        f.write(b'\0' * 4096)
    except OSError:
      pass
  code, _, err = _run(train_cmd.main, capsys, [
      '--model', 'resnet_v2_18', '--train_dir', str(full_disk / 'run'),
      '--steps', '1', '--batch_size', '2'])
  assert code == 2 and err.count('\n') == 1, err
  assert 'cannot be written (No space left on device); free some space' in (
      err)
  assert sorted(os.listdir(full_disk)) == ['fill']


def _fill(folder):
  """Writes until the disk says no: every block of the tmpfs taken."""
  with open(folder / 'fill', 'wb', buffering=0) as f:
    try:
      while True:
        f.write(b'\0' * 4096)
    except OSError:
      pass


@pytest.fixture(scope='module')
def writer_inputs(tmp_path_factory):
  """A tiny checkpoint, an image folder and one image: what the writing
  commands read."""
  import refnets  # pylint: disable=g-import-not-at-top
  folder = tmp_path_factory.mktemp('writers')
  from resnet_v2_slim.inference import keras_twin  # pylint: disable=g-import-not-at-top
  images = refnets.image_folder(folder / 'img', ('a', 'b'), 2, (40, 40))
  ckpt = _tiny_checkpoint(folder)
  keras_twin.from_checkpoint(ckpt).save(str(folder / 'm.keras'))
  return {'ckpt': ckpt, 'dir': str(images), 'keras': str(folder / 'm.keras'),
          'image': str(sorted(images.glob('a/*'))[0])}


# #29 item 4: every command that writes, with its output on a full disk.
# '{out}' is the output path on the full tmpfs.
WRITERS = {
    'summarize --json': ['summarize', '--model', 'resnet_v2_18',
                         '--image_size', '32', '--json', '{out}/s.json'],
    'summarize --tensorboard': ['summarize', '--model', 'resnet_v2_18',
                                '--image_size', '32', '--tensorboard',
                                '{out}/tb'],
    'time-forward --json': ['time-forward', '--model', 'resnet_v2_18',
                            '--batch_size', '1', '--image_size', '32',
                            '--num_batches', '1', '--num_burn_in', '1',
                            '--json', '{out}/t.json'],
    'evaluate --json': ['evaluate', '--checkpoint', '{ckpt}', '--data_dir',
                        '{dir}', '--image_size', '32', '--json',
                        '{out}/e.json'],
    'classify --json': ['classify', '--checkpoint', '{ckpt}',
                        '--image_size', '32', '--json', '{out}/c.json',
                        '{image}'],
    'explain --output': ['explain', '--checkpoint', '{ckpt}', '--image_size',
                         '32', '--output', '{out}/maps', '{image}'],
    'embed --output': ['embed', '--checkpoint', '{ckpt}', '--image_size',
                       '32', '--output', '{out}/e.npy', '{dir}'],
    'inspect --json': ['inspect', '--json', '{out}/i.json', '{ckpt}'],
    'export, every bridge': ['export', '--checkpoint', '{ckpt}',
                             '--image_size', '32', '--keras_file',
                             '{out}/m.keras', '--onnx_file', '{out}/m.onnx',
                             '--openvino_dir', '{out}/ov', '--tflite_file',
                             '{out}/m.tflite', '--saved_model_dir',
                             '{out}/sm'],
    'export --openvino_dir': ['export', '--checkpoint', '{ckpt}',
                              '--image_size', '32', '--openvino_dir',
                              '{out}/ov'],
    'residual-experiment --out': ['residual-experiment', '--quick',
                                  '--out', '{out}/exp'],
    'import-keras --output': ['import-keras', '--output',
                              '{out}/k/model.ckpt', '{keras}'],
}


@pytest.mark.parametrize('writer', sorted(WRITERS))
def test_every_writer_on_a_full_disk_is_one_line_and_leaves_nothing(
    writer, writer_inputs, full_disk, capsys):
  from resnet_v2_slim.cli import main as cli  # pylint: disable=g-import-not-at-top
  _fill(full_disk)
  argv = [a.format(out=full_disk, **writer_inputs) for a in WRITERS[writer]]
  code, _, err = _run(cli.main, capsys, argv)
  # (stderr also carries the commands' status lines: one error among them)
  errors = [line for line in err.splitlines() if ' error: ' in line]
  assert code != 0 and len(errors) == 1, (writer, err)
  assert 'Traceback' not in err and (
      'space' in errors[0] or 'disk' in errors[0]), (writer, err)
  # Nothing new a reader would take as a result: not a file, not a folder.
  assert sorted(os.listdir(full_disk)) == ['fill'], writer


@pytest.mark.parametrize('name', ['SIGTERM', 'SIGHUP'])
def test_a_stop_signal_mid_write_leaves_no_temporary_and_the_old_file(
    name, writer_inputs, forks, tmp_path):
  """SIGTERM or SIGHUP while export writes its temporaries: exit 128 + the
  signal's number, one line, no hidden file left, the earlier file kept."""
  out = tmp_path / 'out'
  out.mkdir()
  (out / 'm.onnx').write_bytes(b'an earlier export')
  argv = [a.format(out=out, **writer_inputs)
          for a in WRITERS['export, every bridge']]
  log = str(tmp_path / 'log')
  child = forks.start(['resnet-v2-slim'] + argv, log=log)
  try:
    deadline = time.monotonic() + 300
    while not [f for f in os.listdir(out) if f.startswith('.')]:
      assert child.poll() is None, child.output()
      assert time.monotonic() < deadline, child.output()
      time.sleep(0.02)
    number = getattr(signal, name)
    child.send_signal(number)
    assert child.wait(timeout=300) == 128 + number, child.output()
  finally:
    child.kill()
  said = [line for line in child.output().splitlines() if 'stopped' in line]
  assert said == ['resnet-v2-slim export: stopped by %s; what it was '
                  'writing was removed, earlier outputs are as they were.'
                  % name], child.output()
  assert 'Traceback' not in child.output()
  assert os.listdir(out) == ['m.onnx']
  assert (out / 'm.onnx').read_bytes() == b'an earlier export'
