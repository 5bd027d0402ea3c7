"""data/imagenet.py and ``convert --imagenet_val``: ImageNet's flat
validation folder, labelled from the devkit, Kaggle's solution CSV or a
synset file, on an ImageNet-shaped set made here (no ImageNet on this
machine): a devkit ``meta.mat`` written with scipy in the devkit's
structure, whose ILSVRC2012_ID order differs from the sorted-WNID order
slim's labels follow."""

import csv
import os
import tarfile

import numpy as np
import pytest
import tensorflow.compat.v1 as tf
from PIL import Image
from scipy import io as scipy_io

from resnet_v2_slim.cli import convert
from resnet_v2_slim.data import imagenet

IMAGES = 24


class Set:
  """An ImageNet-shaped validation set and its four label sources."""

  def __init__(self, root):
    rng = np.random.RandomState(7)
    self.wnids = imagenet.wnids()
    self.truth = [self.wnids[i] for i in rng.choice(1000, IMAGES)]
    self.truth[:2] = ['n01440764', 'n15075141']   # tench, toilet tissue
    self.val = root / 'ILSVRC2012_img_val'
    self.val.mkdir()
    for number in range(1, IMAGES + 1):
      Image.fromarray(rng.randint(0, 256, (30, 40, 3), np.uint8)).save(
          self.val / ('ILSVRC2012_val_%08d.JPEG' % number), format='JPEG')
    # The devkit's IDs: a shuffled order, not the sorted-WNID one.
    self.ids = {w: i + 1 for i, w in enumerate(rng.permutation(self.wnids))}
    self.devkit = root / 'ILSVRC2012_devkit_t12'
    self._devkit(self.devkit / 'data')
    self.tarball = root / 'ILSVRC2012_devkit_t12.tar.gz'
    with tarfile.open(self.tarball, 'w:gz') as tar:
      tar.add(self.devkit, arcname='ILSVRC2012_devkit_t12')
    self.csv = root / 'LOC_val_solution.csv'
    with open(self.csv, 'w', newline='') as f:
      rows = csv.writer(f)
      rows.writerow(['ImageId', 'PredictionString'])
      for number in rng.permutation(IMAGES) + 1:   # any row order
        wnid = self.truth[number - 1]
        rows.writerow(['ILSVRC2012_val_%08d' % number,
                       '%s 1 2 30 40 %s 5 6 20 25 ' % (wnid, wnid)])
    self.synsets = root / 'synset_labels.txt'
    self.synsets.write_text('\n'.join(self.truth) + '\n')

  def _devkit(self, data):
    data.mkdir(parents=True)
    leaves = [(self.ids[w], w, 'words of ' + w, 0) for w in self.wnids]
    inner = [(1001 + i, 'n0000%04d' % i, 'an inner node', 3)
             for i in range(5)]
    synsets = np.array(
        [(i, w, words, 'a gloss', n, np.array([], np.uint8), 1, 1300)
         for i, w, words, n in sorted(leaves) + inner],
        dtype=[(name, 'O') for name in (
            'ILSVRC2012_ID', 'WNID', 'words', 'gloss', 'num_children',
            'children', 'wordnet_height', 'num_train_images')])
    scipy_io.savemat(str(data / 'meta.mat'), {'synsets': synsets})
    (data / 'ILSVRC2012_validation_ground_truth.txt').write_text(
        ''.join('%d\n' % self.ids[w] for w in self.truth))

  def labels(self):
    """slim's label of each image, computed here: 1 + sorted-WNID index."""
    order = sorted(self.wnids)
    return [1 + order.index(w) for w in self.truth]


@pytest.fixture(scope='module')
def imagenet_set(tmp_path_factory):
  return Set(tmp_path_factory.mktemp('imagenet'))


def _records(shard_paths):
  out = []
  for path in shard_paths:
    for record in tf.io.tf_record_iterator(path):
      example = tf.train.Example.FromString(record).features.feature
      out.append((example['image/class/label'].int64_list.value[0],
                  example['image/class/synset'].bytes_list.value[0].decode(),
                  example['image/class/text'].bytes_list.value[0].decode(),
                  example['image/encoded'].bytes_list.value[0]))
  return out


def test_the_shipped_wnids_are_slims_order():
  wnids = imagenet.wnids()
  assert len(wnids) == len(set(wnids)) == 1000 and wnids == sorted(wnids)
  # Known ends of slim's ImageNet labels: 1 is the tench, 1000 the tissue.
  assert (wnids[0], wnids[-1]) == ('n01440764', 'n15075141')


def test_every_source_gives_the_same_shards_in_slims_labels(
    imagenet_set, tmp_path, capsys):
  s = imagenet_set
  contents = {}
  for flag, source in (('--devkit', s.devkit), ('--devkit', s.tarball),
                       ('--solution_csv', s.csv),
                       ('--synset_labels', s.synsets)):
    out = tmp_path / ('%s-%s' % (flag[2:], os.path.basename(source)))
    assert convert.main(['--imagenet_val', str(s.val), flag, str(source),
                         '--output_dir', str(out), '--num_shards', '2']) == 0
    assert 'wrote 24 images of 1000 classes into 2 shards' in (
        capsys.readouterr().out)
    shards = sorted(str(out / n) for n in os.listdir(out)
                    if n.startswith('validation-'))
    contents[source] = [open(p, 'rb').read() for p in shards]
  assert len({tuple(c) for c in contents.values()}) == 1
  records = _records(shards)
  # Shards are filled round-robin: image i goes to shard i % 2.
  order = list(range(0, IMAGES, 2)) + list(range(1, IMAGES, 2))
  expected = s.labels()
  assert [r[0] for r in records] == [expected[i] for i in order]
  assert [r[1] for r in records] == [s.truth[i] for i in order]
  assert records[0][:3] == (1, 'n01440764', 'tench, Tinca tinca')
  assert records[IMAGES // 2][0] == 1000    # image 2: toilet tissue
  assert records[0][3] == open(s.val / 'ILSVRC2012_val_00000001.JPEG',
                               'rb').read()
  # The trap this avoids: the devkit's own IDs are other numbers.
  assert sum(s.ids[w] != label for w, label in zip(s.truth, expected)) > 20
  lines = (out / 'labels.txt').read_text().splitlines()
  assert lines[0] == '1:tench, Tinca tinca' and len(lines) == 1000


def _refused(capsys, tmp_path, argv):
  out = tmp_path / 'out'
  code = convert.main(argv + ['--output_dir', str(out)])
  err = capsys.readouterr().err.strip()
  assert code == 2 and len(err.splitlines()) == 1, err
  assert not out.exists()      # nothing written
  return err


def test_a_devkit_without_meta_mat_is_one_line(imagenet_set, tmp_path,
                                               capsys):
  broken = tmp_path / 'devkit'
  (broken / 'data').mkdir(parents=True)
  (broken / 'data' / imagenet.GROUND_TRUTH).write_text('1\n')
  err = _refused(capsys, tmp_path, ['--imagenet_val', str(imagenet_set.val),
                                    '--devkit', str(broken)])
  assert 'has no data/meta.mat' in err


@pytest.mark.parametrize('lines,words', [
    (IMAGES + 1, 'no file ILSVRC2012_val_00000025.JPEG for a label'),
    (IMAGES - 1, 'image 24 has no label'),
    (1000, 'labels 1000 images'),
])
def test_a_synset_file_of_another_length_is_one_line(
    imagenet_set, tmp_path, capsys, lines, words):
  wrong = tmp_path / 'synsets.txt'
  wrong.write_text('\n'.join((imagenet_set.truth * 50)[:lines]) + '\n')
  err = _refused(capsys, tmp_path, ['--imagenet_val', str(imagenet_set.val),
                                    '--synset_labels', str(wrong)])
  assert words in err, err


def test_a_csv_with_an_unknown_wnid_is_one_line(imagenet_set, tmp_path,
                                                capsys):
  wrong = tmp_path / 'solution.csv'
  text = imagenet_set.csv.read_text()
  wrong.write_text(text.replace(imagenet_set.truth[5], 'n99999999', 1))
  err = _refused(capsys, tmp_path, ['--imagenet_val', str(imagenet_set.val),
                                    '--solution_csv', str(wrong)])
  assert 'n99999999, not one of ILSVRC2012\'s 1,000 classes' in err


def test_class_sub_folders_are_data_dirs_layout(tmp_path, capsys,
                                                imagenet_set):
  classes = tmp_path / 'classes'
  (classes / 'n01440764').mkdir(parents=True)
  err = _refused(capsys, tmp_path, ['--imagenet_val', str(classes),
                                    '--synset_labels',
                                    str(imagenet_set.synsets)])
  assert 'give it as --data_dir' in err


@pytest.mark.parametrize('argv,words', [
    (['--synset_labels', 'S'], 'give --data_dir'),
    (['--imagenet_val', 'V'], 'give one label source'),
    (['--imagenet_val', 'V', '--devkit', 'D', '--synset_labels', 'S'],
     'give one label source'),
    (['--data_dir', 'V', '--devkit', 'D'], '--devkit labels --imagenet_val'),
])
def test_flags_that_do_not_fit_are_one_line(imagenet_set, tmp_path, capsys,
                                            argv, words):
  paths = {'V': str(imagenet_set.val), 'D': str(imagenet_set.devkit),
           'S': str(imagenet_set.synsets)}
  err = _refused(capsys, tmp_path, [paths.get(a, a) for a in argv])
  assert words in err, err


def test_evaluate_on_the_flat_folder_gives_its_shards_numbers(
    imagenet_set, tmp_path):
  import json  # pylint: disable=g-import-not-at-top
  import refnets  # pylint: disable=g-import-not-at-top
  from resnet_v2_slim.cli import main as cli  # pylint: disable=g-import-not-at-top
  s = imagenet_set
  prefix = refnets.save_our_checkpoint(tmp_path / 'rn18.ckpt',
                                       'resnet_v2_18', 1001)
  shards = tmp_path / 'shards'
  assert convert.main(['--imagenet_val', str(s.val), '--devkit',
                       str(s.tarball), '--output_dir', str(shards)]) == 0
  results = []
  for data in (['--tfrecord', str(shards / 'validation-*')],
               ['--data_dir', str(s.val), '--solution_csv', str(s.csv)]):
    out = str(tmp_path / ('%d.json' % len(results)))
    assert cli.main(['evaluate', '--checkpoint', str(prefix), '--image_size',
                     '32', '--batch_size', '8', '--json', out] + data) == 0
    results.append(json.load(open(out)))
  assert [r['num_examples'] for r in results] == [IMAGES, IMAGES]
  for key in ('top1', 'top5'):
    assert results[0][key] == results[1][key]
  # The loss is the labels' too: the same images with the same labels.
  assert abs(results[0]['loss'] - results[1]['loss']) < 1e-5


def test_evaluate_takes_a_label_source_only_with_the_folder(
    imagenet_set, capsys):
  from resnet_v2_slim.cli import main as cli  # pylint: disable=g-import-not-at-top
  code = cli.main(['evaluate', '--checkpoint', 'x.ckpt', '--tfrecord', 'r-*',
                   '--devkit', str(imagenet_set.devkit)])
  err = capsys.readouterr().err.strip()
  assert code == 2 and err.endswith(
      '--devkit labels ImageNet\'s flat validation folder: give the folder '
      'as --data_dir.'), err


def test_a_published_checkpoint_near_chance_is_told_about_the_label_trap():
  from resnet_v2_slim.inference import evaluate  # pylint: disable=g-import-not-at-top
  row = {'name': 'resnet_v2_50_2017_04_14', 'top1': 75.6, 'top5': 92.8}
  result = {'published': row, 'num_examples': 50000, 'num_classes': 1001,
            'top1': 0.0011}
  hint = evaluate.label_order_hint(result)
  assert hint.startswith('top-1 0.11% is near chance (0.10%) for '
                         'resnet_v2_50_2017_04_14, published at 75.6%')
  assert 'convert --imagenet_val' in hint
  # Not for: a checkpoint without a row, a real score, too few images.
  for change in ({'published': None}, {'top1': 0.756},
                 {'num_examples': 100}):
    assert evaluate.label_order_hint(dict(result, **change)) is None
