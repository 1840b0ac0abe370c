"""A BigCodeBench-style battery of our own: hidden tests in the shapes BigCodeBench uses,
each task with a right solution (must score exactly 1.0) and a wrong one (must score less).

Each task is a dict: ``id``, ``shape`` (what the tests do around the call), ``libs``
(third-party modules it needs), ``solution``, ``wrong`` and ``test`` (``TestCases``).
"""

from __future__ import annotations

TASKS: list[dict] = []


def task(id: str, shape: str, solution: str, wrong: str, test: str, libs: tuple = ()) -> None:
    TASKS.append(dict(id=id, shape=shape, libs=libs, solution=solution, wrong=wrong, test=test))


# --- seeded random generators ----------------------------------------------------------
task(
    "rng_random_choice",
    "seeded_rng",
    "import random\ndef task_func(n):\n    return [random.randint(1, 100) for _ in range(n)]\n",
    "import random\ndef task_func(n):\n    random.seed(7)\n"
    "    return [random.randint(1, 100) for _ in range(n)]\n",
    """import random, unittest
class TestCases(unittest.TestCase):
    def test_seeded(self):
        random.seed(42)
        expected = [random.randint(1, 100) for _ in range(5)]
        random.seed(42)
        self.assertEqual(task_func(5), expected)
    def test_state_moves_on(self):
        random.seed(1)
        first = task_func(3)
        second = task_func(3)
        random.seed(1)
        self.assertEqual(first + second, [random.randint(1, 100) for _ in range(6)])
""",
)
task(
    "rng_numpy_normal",
    "seeded_rng",
    "import numpy as np\ndef task_func(n):\n    return np.random.normal(0, 1, n)\n",
    "import numpy as np\ndef task_func(n):\n    return np.random.default_rng().normal(0, 1, n)\n",
    """import numpy as np, unittest
class TestCases(unittest.TestCase):
    def test_seeded(self):
        np.random.seed(0)
        expected = np.random.normal(0, 1, 4)
        np.random.seed(0)
        np.testing.assert_array_equal(task_func(4), expected)
    def test_after(self):
        np.random.seed(3)
        task_func(2)
        after = np.random.rand()
        np.random.seed(3)
        np.random.normal(0, 1, 2)
        self.assertEqual(after, np.random.rand())
""",
    ("numpy",),
)
task(
    "rng_shuffle_words",
    "seeded_rng",
    "import random\ndef task_func(words, seed=None):\n    if seed is not None:\n"
    "        random.seed(seed)\n    out = list(words)\n    random.shuffle(out)\n    return out\n",
    "def task_func(words, seed=None):\n    return sorted(words)\n",
    """import random, unittest
class TestCases(unittest.TestCase):
    def test_seed_arg(self):
        random.seed(5)
        w = ['a', 'b', 'c', 'd', 'e', 'f']
        exp = list(w)
        random.shuffle(exp)
        self.assertEqual(task_func(w, seed=5), exp)
    def test_global_seed(self):
        random.seed(9)
        w = list('abcdefgh')
        exp = list(w)
        random.shuffle(exp)
        random.seed(9)
        self.assertEqual(task_func(w), exp)
""",
)
task(
    "rng_numpy_dataframe",
    "seeded_rng",
    "import numpy as np, pandas as pd\ndef task_func(rows):\n"
    "    return pd.DataFrame(np.random.randint(0, 10, size=(rows, 2)), columns=['a', 'b'])\n",
    "import numpy as np, pandas as pd\ndef task_func(rows):\n"
    "    return pd.DataFrame(np.zeros((rows, 2), int), columns=['a', 'b'])\n",
    """import numpy as np, pandas as pd, unittest
class TestCases(unittest.TestCase):
    def test_values(self):
        np.random.seed(11)
        df = task_func(6)
        np.random.seed(11)
        exp = np.random.randint(0, 10, size=(6, 2))
        self.assertEqual(df.values.tolist(), exp.tolist())
""",
    ("numpy", "pandas"),
)

# --- files in setUp, files the solution writes ----------------------------------------
task(
    "files_csv_sum",
    "files",
    "import csv\ndef task_func(path):\n    with open(path) as f:\n"
    "        return sum(int(r['x']) for r in csv.DictReader(f))\n",
    "def task_func(path):\n    return 0\n",
    """import os, tempfile, unittest, shutil
class TestCases(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp()
        self.path = os.path.join(self.dir, 'data.csv')
        with open(self.path, 'w') as f:
            f.write('x,y\\n1,2\\n3,4\\n5,6\\n')
    def tearDown(self):
        shutil.rmtree(self.dir)
    def test_sum(self):
        self.assertEqual(task_func(self.path), 9)
    def test_missing(self):
        with self.assertRaises(FileNotFoundError):
            task_func(os.path.join(self.dir, 'none.csv'))
""",
)
task(
    "files_move_txt",
    "files",
    "import os, shutil, glob\ndef task_func(src, dst):\n    moved = []\n"
    "    for p in sorted(glob.glob(os.path.join(src, '*.txt'))):\n"
    "        shutil.move(p, dst)\n        moved.append(os.path.basename(p))\n    return moved\n",
    "import os\ndef task_func(src, dst):\n    return sorted(f for f in os.listdir(src) "
    "if f.endswith('.txt'))\n",
    """import os, tempfile, unittest
class TestCases(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.src = os.path.join(self.tmp.name, 'src')
        self.dst = os.path.join(self.tmp.name, 'dst')
        os.makedirs(self.src)
        os.makedirs(self.dst)
        for name in ('a.txt', 'b.txt', 'c.log'):
            with open(os.path.join(self.src, name), 'w') as f:
                f.write(name)
    def tearDown(self):
        self.tmp.cleanup()
    def test_move(self):
        self.assertEqual(task_func(self.src, self.dst), ['a.txt', 'b.txt'])
        self.assertEqual(sorted(os.listdir(self.dst)), ['a.txt', 'b.txt'])
        self.assertEqual(os.listdir(self.src), ['c.log'])
""",
)
task(
    "files_write_json",
    "files",
    "import json, os\ndef task_func(data, folder):\n    path = os.path.join(folder, 'out.json')\n"
    "    with open(path, 'w') as f:\n        json.dump(data, f)\n    return path\n",
    "import os\ndef task_func(data, folder):\n    return os.path.join(folder, 'out.json')\n",
    """import json, os, tempfile, unittest
class TestCases(unittest.TestCase):
    def test_written(self):
        with tempfile.TemporaryDirectory() as d:
            path = task_func({'a': [1, 2]}, d)
            with open(path) as f:
                self.assertEqual(json.load(f), {'a': [1, 2]})
    def test_cwd(self):
        old = os.getcwd()
        with tempfile.TemporaryDirectory() as d:
            os.chdir(d)
            try:
                path = task_func([3], '.')
                self.assertTrue(os.path.exists(os.path.join(d, 'out.json')))
            finally:
                os.chdir(old)
""",
)
task(
    "files_pandas_csv",
    "files",
    "import pandas as pd\ndef task_func(path):\n    df = pd.read_csv(path)\n"
    "    df['total'] = df['a'] + df['b']\n    df.to_csv(path, index=False)\n    return df\n",
    "import pandas as pd\ndef task_func(path):\n    return pd.read_csv(path)\n",
    """import os, tempfile, unittest
import pandas as pd
class TestCases(unittest.TestCase):
    def setUp(self):
        fd, self.path = tempfile.mkstemp(suffix='.csv')
        os.close(fd)
        pd.DataFrame({'a': [1, 2], 'b': [10, 20]}).to_csv(self.path, index=False)
    def tearDown(self):
        os.remove(self.path)
    def test_total(self):
        df = task_func(self.path)
        self.assertEqual(df['total'].tolist(), [11, 22])
        self.assertEqual(pd.read_csv(self.path)['total'].tolist(), [11, 22])
""",
    ("pandas",),
)

# --- unittest.mock -------------------------------------------------------------------
task(
    "mock_requests_get",
    "mock",
    "import requests\ndef task_func(url):\n    r = requests.get(url, timeout=5)\n"
    "    r.raise_for_status()\n    return r.json()['name']\n",
    "import requests\ndef task_func(url):\n    return requests.get(url).json()['name']\n",
    """import unittest
from unittest.mock import patch, MagicMock
class TestCases(unittest.TestCase):
    @patch('requests.get')
    def test_name(self, mock_get):
        mock_get.return_value.json.return_value = {'name': 'octo'}
        self.assertEqual(task_func('https://api.example/u'), 'octo')
        mock_get.assert_called_once_with('https://api.example/u', timeout=5)
    @patch('requests.get')
    def test_error(self, mock_get):
        resp = MagicMock()
        resp.raise_for_status.side_effect = ValueError('boom')
        mock_get.return_value = resp
        with self.assertRaises(ValueError):
            task_func('https://api.example/x')
""",
    ("requests",),
)
task(
    "mock_os_listdir",
    "mock",
    "import os\ndef task_func(folder):\n    return sorted(f for f in os.listdir(folder)"
    " if f.endswith('.py'))\n",
    "import os\ndef task_func(folder):\n    return sorted(os.listdir(folder))\n",
    """import unittest
from unittest.mock import patch
class TestCases(unittest.TestCase):
    @patch('os.listdir', return_value=['b.py', 'a.py', 'c.txt'])
    def test_filter(self, mock_listdir):
        self.assertEqual(task_func('/some/where'), ['a.py', 'b.py'])
        mock_listdir.assert_called_once_with('/some/where')
""",
)
task(
    "mock_time_subprocess",
    "mock",
    "import subprocess, time\ndef task_func(cmd):\n    start = time.time()\n"
    "    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout\n"
    "    return out.strip(), time.time() - start\n",
    "import subprocess, time\ndef task_func(cmd):\n    return subprocess.run(cmd).stdout, 0.0\n",
    """import unittest
from unittest import mock
class TestCases(unittest.TestCase):
    def test_run(self):
        with mock.patch('subprocess.run') as run, mock.patch('time.time', side_effect=[10.0, 12.5]):
            run.return_value.stdout = ' hello\\n'
            self.assertEqual(task_func(['echo', 'hello']), ('hello', 2.5))
            run.assert_called_once_with(['echo', 'hello'], capture_output=True, text=True,
                                        check=True)
""",
)
task(
    "mock_open_read",
    "mock",
    "def task_func(path):\n    with open(path) as f:\n"
    "        return [line.strip().upper() for line in f.read().splitlines() if line.strip()]\n",
    "def task_func(path):\n    with open(path) as f:\n        return f.read().splitlines()\n",
    """import unittest
from unittest.mock import patch, mock_open
class TestCases(unittest.TestCase):
    def test_read(self):
        with patch('builtins.open', mock_open(read_data='a\\n\\nb\\n')) as m:
            self.assertEqual(task_func('f.txt'), ['A', 'B'])
        m.assert_called_once_with('f.txt')
""",
)
task(
    "mock_patch_object_random",
    "mock",
    "import random\ndef task_func(items):\n    return [random.choice(items) for _ in range(3)]\n",
    "def task_func(items):\n    return items[:3]\n",
    """import random, unittest
from unittest.mock import patch
class TestCases(unittest.TestCase):
    def test_choice(self):
        with patch.object(random, 'choice', side_effect=['x', 'y', 'z']) as choice:
            self.assertEqual(task_func(['p', 'q', 'r', 's']), ['x', 'y', 'z'])
        self.assertEqual(choice.call_count, 3)
""",
)

# --- printed output and logs -----------------------------------------------------------
task(
    "stdout_patch_stringio",
    "stdout",
    "def task_func(names):\n    for n in names:\n        print(f'Hello, {n}!')\n"
    "    return len(names)\n",
    "def task_func(names):\n    return len(names)\n",
    """import io, unittest
from unittest.mock import patch
class TestCases(unittest.TestCase):
    @patch('sys.stdout', new_callable=io.StringIO)
    def test_print(self, out):
        self.assertEqual(task_func(['Ann', 'Bo']), 2)
        self.assertEqual(out.getvalue(), 'Hello, Ann!\\nHello, Bo!\\n')
""",
)
task(
    "stdout_redirect",
    "stdout",
    "import sys\ndef task_func(x):\n    print('value', x)\n    print('warn', file=sys.stderr)\n",
    "def task_func(x):\n    print('value')\n",
    """import contextlib, io, unittest
class TestCases(unittest.TestCase):
    def test_redirect(self):
        buf, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(err):
            task_func(3)
        self.assertEqual(buf.getvalue(), 'value 3\\n')
        self.assertIn('warn', err.getvalue())
""",
)
task(
    "logs_assertlogs",
    "stdout",
    "import logging\nlogger = logging.getLogger('bank')\ndef task_func(amount):\n"
    "    if amount < 0:\n        logger.warning('negative amount %s', amount)\n"
    "        return False\n    logger.info('ok %s', amount)\n    return True\n",
    "def task_func(amount):\n    return amount >= 0\n",
    """import unittest
class TestCases(unittest.TestCase):
    def test_warn(self):
        with self.assertLogs('bank', level='WARNING') as cm:
            self.assertFalse(task_func(-5))
        self.assertEqual(cm.output, ['WARNING:bank:negative amount -5'])
    def test_info(self):
        with self.assertLogs('bank', level='INFO') as cm:
            self.assertTrue(task_func(5))
        self.assertIn('ok 5', cm.output[0])
""",
)

# --- the environment -------------------------------------------------------------------
task(
    "env_read_var",
    "environ",
    "import os\ndef task_func():\n    return os.environ.get('APP_MODE', 'dev').upper()\n",
    "def task_func():\n    return 'DEV'\n",
    """import os, unittest
from unittest.mock import patch
class TestCases(unittest.TestCase):
    def test_patch_dict(self):
        with patch.dict(os.environ, {'APP_MODE': 'prod'}):
            self.assertEqual(task_func(), 'PROD')
    def test_default(self):
        os.environ.pop('APP_MODE', None)
        self.assertEqual(task_func(), 'DEV')
""",
)
task(
    "env_set_directly",
    "environ",
    "import os\ndef task_func(keys):\n    return {k: int(os.environ[k]) for k in keys}\n",
    "def task_func(keys):\n    return {k: 0 for k in keys}\n",
    """import os, unittest
class TestCases(unittest.TestCase):
    def test_set(self):
        os.environ['N_A'] = '3'
        os.environ['N_B'] = '4'
        self.assertEqual(task_func(['N_A', 'N_B']), {'N_A': 3, 'N_B': 4})
    def test_missing(self):
        with self.assertRaises(KeyError):
            task_func(['N_NOT_SET'])
""",
)
task(
    "env_path_join",
    "environ",
    "import os\ndef task_func(name):\n    return os.path.join(os.environ['DATA_DIR'], name)\n",
    "def task_func(name):\n    return name\n",
    """import os, unittest
from unittest import mock
class TestCases(unittest.TestCase):
    @mock.patch.dict('os.environ', {'DATA_DIR': '/data'})
    def test_join(self):
        self.assertEqual(task_func('x.csv'), '/data/x.csv')
""",
)

# --- type checks through proxies -------------------------------------------------------
task(
    "isinstance_axes",
    "isinstance",
    "import matplotlib.pyplot as plt\ndef task_func(values):\n    fig, ax = plt.subplots()\n"
    "    ax.plot(values)\n    ax.set_title('Values')\n    return ax\n",
    "import matplotlib.pyplot as plt\ndef task_func(values):\n    fig, ax = plt.subplots()\n"
    "    return ax\n",
    """import unittest
import matplotlib.pyplot as plt
class TestCases(unittest.TestCase):
    def test_axes(self):
        ax = task_func([1, 2, 3])
        self.assertIsInstance(ax, plt.Axes)
        self.assertEqual(ax.get_title(), 'Values')
        self.assertEqual(len(ax.lines), 1)
        self.assertEqual(list(ax.lines[0].get_ydata()), [1, 2, 3])
""",
    ("matplotlib",),
)
task(
    "isinstance_figure_hist",
    "isinstance",
    "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n"
    "def task_func(data):\n    fig, ax = plt.subplots()\n    ax.hist(data, bins=3)\n"
    "    ax.set_xlabel('x')\n    return fig\n",
    "import matplotlib.pyplot as plt\ndef task_func(data):\n    fig, ax = plt.subplots()\n"
    "    return ax\n",
    """import unittest
import matplotlib.figure
class TestCases(unittest.TestCase):
    def test_fig(self):
        fig = task_func([1, 2, 2, 3, 3, 3])
        self.assertIsInstance(fig, matplotlib.figure.Figure)
        self.assertEqual(fig.axes[0].get_xlabel(), 'x')
        self.assertEqual(len(fig.axes[0].patches), 3)
""",
    ("matplotlib",),
)
task(
    "isinstance_own_class_and_type",
    "isinstance",
    "import collections\ndef task_func(words):\n    return collections.Counter(words)\n",
    "def task_func(words):\n    return {w: words.count(w) for w in words}\n",
    """import collections, unittest
class TestCases(unittest.TestCase):
    def test_counter(self):
        c = task_func(['a', 'b', 'a'])
        self.assertIsInstance(c, collections.Counter)
        self.assertEqual(c.most_common(1), [('a', 2)])
""",
)

# --- generators and iterators ---------------------------------------------------------
task(
    "gen_next",
    "generator",
    "def task_func(n):\n    a, b = 0, 1\n    for _ in range(n):\n        yield a\n"
    "        a, b = b, a + b\n",
    "def task_func(n):\n    for i in range(n):\n        yield i\n",
    """import types, unittest
class TestCases(unittest.TestCase):
    def test_next(self):
        gen = task_func(5)
        self.assertIsInstance(gen, types.GeneratorType)
        self.assertEqual(next(gen), 0)
        self.assertEqual(next(gen), 1)
        self.assertEqual(list(gen), [1, 2, 3])
        with self.assertRaises(StopIteration):
            next(gen)
""",
)
task(
    "gen_infinite_islice",
    "generator",
    "import itertools\ndef task_func(start):\n    for i in itertools.count(start):\n"
    "        yield i * i\n",
    "def task_func(start):\n    i = start\n    while True:\n        yield i\n        i += 1\n",
    """import itertools, unittest
class TestCases(unittest.TestCase):
    def test_islice(self):
        self.assertEqual(list(itertools.islice(task_func(2), 3)), [4, 9, 16])
""",
)
task(
    "gen_pairs_tuples",
    "generator",
    "def task_func(d):\n    for k in sorted(d):\n        yield k, d[k]\n",
    "def task_func(d):\n    yield from d.items()\n",
    """import unittest
class TestCases(unittest.TestCase):
    def test_pairs(self):
        out = [p for p in task_func({'b': 2, 'a': 1})]
        self.assertEqual(out, [('a', 1), ('b', 2)])
    def test_dict(self):
        self.assertEqual(dict(task_func({'z': 0})), {'z': 0})
""",
)

# --- arguments mutated in place ---------------------------------------------------------
task(
    "mutate_sort_list",
    "mutation",
    "def task_func(items):\n    items.sort()\n    return None\n",
    "def task_func(items):\n    return sorted(items)\n",
    """import unittest
class TestCases(unittest.TestCase):
    def test_sorted_in_place(self):
        items = [3, 1, 2]
        self.assertIsNone(task_func(items))
        self.assertEqual(items, [1, 2, 3])
""",
)
task(
    "mutate_dict_update",
    "mutation",
    "def task_func(config, **kw):\n    config.update(kw)\n    config.pop('debug', None)\n"
    "    return len(config)\n",
    "def task_func(config, **kw):\n    return len({**config, **kw})\n",
    """import unittest
class TestCases(unittest.TestCase):
    def test_update(self):
        cfg = {'debug': True, 'a': 1}
        self.assertEqual(task_func(cfg, b=2), 2)
        self.assertEqual(cfg, {'a': 1, 'b': 2})
""",
)
task(
    "mutate_dataframe_column",
    "mutation",
    "import pandas as pd\ndef task_func(df):\n    df['double'] = df['x'] * 2\n    return df\n",
    "import pandas as pd\ndef task_func(df):\n    return df.assign(double=df['x'] * 2)\n",
    """import unittest
import pandas as pd
class TestCases(unittest.TestCase):
    def test_in_place(self):
        df = pd.DataFrame({'x': [1, 2]})
        task_func(df)
        self.assertIn('double', df.columns)
        self.assertEqual(df['double'].tolist(), [2, 4])
""",
    ("pandas",),
)
task(
    "mutate_numpy_array",
    "mutation",
    "import numpy as np\ndef task_func(arr):\n    arr[arr < 0] = 0\n    return int(arr.sum())\n",
    "import numpy as np\ndef task_func(arr):\n    return int(np.clip(arr, 0, None).sum())\n",
    """import unittest
import numpy as np
class TestCases(unittest.TestCase):
    def test_clip(self):
        a = np.array([-1, 2, -3, 4])
        self.assertEqual(task_func(a), 6)
        self.assertEqual(a.tolist(), [0, 2, 0, 4])
""",
    ("numpy",),
)

# --- tuples mixing data and objects ----------------------------------------------------
task(
    "tuple_df_axes",
    "tuple_mixed",
    "import pandas as pd\nimport matplotlib.pyplot as plt\ndef task_func(data):\n"
    "    df = pd.DataFrame(data, columns=['a', 'b'])\n    ax = df.plot(kind='bar')\n"
    "    return df, ax\n",
    "import pandas as pd\ndef task_func(data):\n    return pd.DataFrame(data), None\n",
    """import unittest
import matplotlib.pyplot as plt
import pandas as pd
class TestCases(unittest.TestCase):
    def test_both(self):
        df, ax = task_func([[1, 2], [3, 4]])
        self.assertIsInstance(df, pd.DataFrame)
        self.assertEqual(list(df.columns), ['a', 'b'])
        self.assertIsInstance(ax, plt.Axes)
        self.assertEqual(len(ax.patches), 4)
""",
    ("pandas", "matplotlib"),
)
task(
    "tuple_array_axes_stats",
    "tuple_mixed",
    "import numpy as np\nimport matplotlib.pyplot as plt\ndef task_func(values):\n"
    "    arr = np.array(values, dtype=float)\n    fig, ax = plt.subplots()\n    ax.plot(arr)\n"
    "    return arr, ax, {'mean': float(arr.mean())}\n",
    "import numpy as np\ndef task_func(values):\n    return np.array(values), None, {}\n",
    """import unittest
import numpy as np
import matplotlib.axes
class TestCases(unittest.TestCase):
    def test_mixed(self):
        arr, ax, stats = task_func([1, 2, 3])
        np.testing.assert_array_equal(arr, np.array([1.0, 2.0, 3.0]))
        self.assertTrue(isinstance(ax, matplotlib.axes.Axes))
        self.assertAlmostEqual(stats['mean'], 2.0)
""",
    ("numpy", "matplotlib"),
)
task(
    "tuple_list_with_objects",
    "tuple_mixed",
    "class Item:\n    def __init__(self, n):\n        self.n = n\n    def label(self):\n"
    "        return f'#{self.n}'\ndef task_func(k):\n    return k, [Item(i) for i in range(k)]\n",
    "def task_func(k):\n    return k, []\n",
    """import unittest
class TestCases(unittest.TestCase):
    def test_items(self):
        n, items = task_func(3)
        self.assertEqual(n, 3)
        self.assertEqual([i.label() for i in items], ['#0', '#1', '#2'])
        self.assertEqual(items[2].n, 2)
""",
)

# --- plain returns -------------------------------------------------------------------
task(
    "plain_word_count",
    "plain",
    "import re, collections\ndef task_func(text):\n"
    "    return dict(collections.Counter(re.findall(r'\\w+', text.lower())))\n",
    "def task_func(text):\n    return {w: 1 for w in text.split()}\n",
    """import unittest
class TestCases(unittest.TestCase):
    def test_count(self):
        self.assertEqual(task_func('a A b'), {'a': 2, 'b': 1})
    def test_empty(self):
        self.assertEqual(task_func(''), {})
    def test_in(self):
        self.assertIn('x', task_func('x y'))
        self.assertNotIn('z', task_func('x y'))
""",
)
task(
    "plain_primes",
    "plain",
    "def task_func(n):\n    return [p for p in range(2, n) if all(p % d for d in range(2, p))]\n",
    "def task_func(n):\n    return [p for p in range(2, n) if p % 2]\n",
    """import unittest
class TestCases(unittest.TestCase):
    def test_primes(self):
        self.assertEqual(task_func(20), [2, 3, 5, 7, 11, 13, 17, 19])
    def test_len(self):
        self.assertEqual(len(task_func(10)), 4)
""",
)
task(
    "plain_dates",
    "plain",
    "from datetime import datetime, timedelta\ndef task_func(start, days):\n"
    "    d = datetime.strptime(start, '%Y-%m-%d')\n"
    "    return [(d + timedelta(i)).date() for i in range(days)]\n",
    "from datetime import datetime\ndef task_func(start, days):\n"
    "    return [datetime.strptime(start, '%Y-%m-%d').date()] * days\n",
    """import unittest
from datetime import date
class TestCases(unittest.TestCase):
    def test_dates(self):
        self.assertEqual(task_func('2024-02-28', 2), [date(2024, 2, 28), date(2024, 2, 29)])
""",
)

# --- exceptions ------------------------------------------------------------------------
task(
    "exc_value_error",
    "exception",
    "def task_func(x):\n    if x < 0:\n        raise ValueError('negative')\n    return x ** 0.5\n",
    "def task_func(x):\n    return abs(x) ** 0.5\n",
    """import unittest
class TestCases(unittest.TestCase):
    def test_raise(self):
        with self.assertRaises(ValueError):
            task_func(-1)
    def test_ok(self):
        self.assertEqual(task_func(4), 2.0)
""",
)
task(
    "exc_type_error_message",
    "exception",
    "def task_func(items):\n    if not isinstance(items, list):\n"
    "        raise TypeError('items must be a list')\n    return len(items)\n",
    "def task_func(items):\n    return len(items)\n",
    """import unittest
class TestCases(unittest.TestCase):
    def test_type(self):
        with self.assertRaisesRegex(TypeError, 'must be a list'):
            task_func('abc')
        self.assertEqual(task_func([1]), 1)
""",
)
task(
    "exc_custom_subclass",
    "exception",
    "class TooBig(KeyError):\n    pass\ndef task_func(d, k):\n    if k not in d:\n"
    "        raise TooBig(k)\n    return d[k]\n",
    "def task_func(d, k):\n    return d.get(k)\n",
    """import unittest
class TestCases(unittest.TestCase):
    def test_key(self):
        with self.assertRaises(KeyError):
            task_func({'a': 1}, 'b')
        self.assertEqual(task_func({'a': 1}, 'a'), 1)
""",
)

# --- DataFrames --------------------------------------------------------------------------
task(
    "df_groupby",
    "dataframe",
    "import pandas as pd\ndef task_func(rows):\n    df = pd.DataFrame(rows, columns=['k', 'v'])\n"
    "    return df.groupby('k', as_index=False)['v'].sum()\n",
    "import pandas as pd\ndef task_func(rows):\n"
    "    return pd.DataFrame(rows, columns=['k', 'v'])\n",
    """import unittest
import pandas as pd
class TestCases(unittest.TestCase):
    def test_sum(self):
        out = task_func([('a', 1), ('b', 2), ('a', 3)])
        pd.testing.assert_frame_equal(out, pd.DataFrame({'k': ['a', 'b'], 'v': [4, 2]}))
""",
    ("pandas",),
)
task(
    "df_describe_shape",
    "dataframe",
    "import pandas as pd\ndef task_func(d):\n    return pd.DataFrame(d).describe()\n",
    "import pandas as pd\ndef task_func(d):\n    return pd.DataFrame(d)\n",
    """import unittest
import pandas as pd
class TestCases(unittest.TestCase):
    def test_describe(self):
        out = task_func({'x': [1.0, 2.0, 3.0]})
        self.assertEqual(out.shape, (8, 1))
        self.assertEqual(out.loc['mean', 'x'], 2.0)
        self.assertIn('std', out.index)
""",
    ("pandas",),
)
task(
    "df_series_datetime",
    "dataframe",
    "import pandas as pd\ndef task_func(start, n):\n"
    "    idx = pd.date_range(start, periods=n, freq='D')\n"
    "    return pd.Series(range(n), index=idx, name='count')\n",
    "import pandas as pd\ndef task_func(start, n):\n    return pd.Series(range(n), name='count')\n",
    """import unittest
import pandas as pd
class TestCases(unittest.TestCase):
    def test_series(self):
        s = task_func('2024-01-01', 3)
        self.assertIsInstance(s, pd.Series)
        self.assertEqual(s.index[-1], pd.Timestamp('2024-01-03'))
        self.assertEqual(s.name, 'count')
""",
    ("pandas",),
)

# --- numpy arrays --------------------------------------------------------------------
task(
    "np_normalize",
    "numpy",
    "import numpy as np\ndef task_func(a):\n    a = np.asarray(a, dtype=float)\n"
    "    return (a - a.min()) / (a.max() - a.min())\n",
    "import numpy as np\ndef task_func(a):\n    return np.asarray(a, dtype=float) / max(a)\n",
    """import unittest
import numpy as np
class TestCases(unittest.TestCase):
    def test_norm(self):
        np.testing.assert_allclose(task_func([2, 4, 6]), [0.0, 0.5, 1.0])
    def test_dtype(self):
        self.assertEqual(task_func([1, 3]).dtype, np.float64)
""",
    ("numpy",),
)
task(
    "np_matrix_ops",
    "numpy",
    "import numpy as np\ndef task_func(n):\n    m = np.arange(n * n).reshape(n, n)\n"
    "    return m @ m.T, np.trace(m)\n",
    "import numpy as np\ndef task_func(n):\n    m = np.arange(n * n).reshape(n, n)\n"
    "    return m * m, 0\n",
    """import unittest
import numpy as np
class TestCases(unittest.TestCase):
    def test_ops(self):
        prod, tr = task_func(2)
        self.assertTrue(np.array_equal(prod, np.array([[1, 3], [3, 13]])))
        self.assertEqual(tr, 3)
""",
    ("numpy",),
)
task(
    "np_boolean_mask",
    "numpy",
    "import numpy as np\ndef task_func(a, t):\n    a = np.asarray(a)\n    return a[a > t]\n",
    "import numpy as np\ndef task_func(a, t):\n    return np.asarray(a)\n",
    """import unittest
import numpy as np
class TestCases(unittest.TestCase):
    def test_mask(self):
        out = task_func([1, 5, 2, 8], 2)
        self.assertIsInstance(out, np.ndarray)
        self.assertEqual(out.tolist(), [5, 8])
        self.assertIn(8, out)
""",
    ("numpy",),
)

# --- classes returned by the solution ---------------------------------------------------
task(
    "class_stack",
    "class",
    "class Stack:\n    def __init__(self):\n        self._items = []\n"
    "    def push(self, x):\n        self._items.append(x)\n    def pop(self):\n"
    "        return self._items.pop()\n    def __len__(self):\n        return len(self._items)\n"
    "def task_func():\n    return Stack()\n",
    "class Stack:\n    def __init__(self):\n        self._items = []\n"
    "    def push(self, x):\n        self._items.insert(0, x)\n    def pop(self):\n"
    "        return self._items.pop()\n    def __len__(self):\n        return 0\n"
    "def task_func():\n    return Stack()\n",
    """import unittest
class TestCases(unittest.TestCase):
    def test_stack(self):
        s = task_func()
        s.push(1)
        s.push(2)
        self.assertEqual(len(s), 2)
        self.assertEqual(s.pop(), 2)
        self.assertEqual(len(s), 1)
""",
)
task(
    "class_account",
    "class",
    "class Account:\n    def __init__(self, balance=0):\n        self.balance = balance\n"
    "    def withdraw(self, x):\n        if x > self.balance:\n"
    "            raise ValueError('insufficient')\n        self.balance -= x\n"
    "        return self.balance\n",
    "class Account:\n    def __init__(self, balance=0):\n        self.balance = balance\n"
    "    def withdraw(self, x):\n        self.balance -= x\n        return self.balance\n",
    """import unittest
class TestCases(unittest.TestCase):
    def test_withdraw(self):
        a = Account(10)
        self.assertEqual(a.withdraw(3), 7)
        self.assertEqual(a.balance, 7)
        with self.assertRaises(ValueError):
            a.withdraw(100)
""",
)
task(
    "class_str_iter",
    "class",
    "class Deck:\n    def __init__(self, cards):\n        self.cards = list(cards)\n"
    "    def __iter__(self):\n        return iter(self.cards)\n    def __str__(self):\n"
    "        return ' '.join(self.cards)\ndef task_func(cards):\n    return Deck(cards)\n",
    "class Deck:\n    def __init__(self, cards):\n        self.cards = list(cards)\n"
    "    def __iter__(self):\n        return iter(reversed(self.cards))\n"
    "def task_func(cards):\n    return Deck(cards)\n",
    """import unittest
class TestCases(unittest.TestCase):
    def test_deck(self):
        d = task_func(['A', 'K'])
        self.assertEqual(list(d), ['A', 'K'])
        self.assertEqual(str(d), 'A K')
        self.assertIn('K', d)
""",
)

# --- warnings and SystemExit -------------------------------------------------------------
task(
    "warn_deprecated",
    "warning",
    "import warnings\ndef task_func(x):\n"
    "    warnings.warn('task_func(x) is deprecated', DeprecationWarning)\n    return x * 2\n",
    "def task_func(x):\n    return x * 2\n",
    """import unittest
class TestCases(unittest.TestCase):
    def test_warns(self):
        with self.assertWarns(DeprecationWarning):
            self.assertEqual(task_func(2), 4)
""",
)
task(
    "warn_regex_user",
    "warning",
    "import warnings\ndef task_func(values):\n    if not values:\n"
    "        warnings.warn('empty input, returning 0')\n        return 0\n"
    "    return sum(values) / len(values)\n",
    "def task_func(values):\n    return sum(values) / len(values) if values else 0\n",
    """import unittest
class TestCases(unittest.TestCase):
    def test_empty(self):
        with self.assertWarnsRegex(UserWarning, 'empty input'):
            self.assertEqual(task_func([]), 0)
    def test_mean(self):
        self.assertEqual(task_func([1, 3]), 2)
""",
)
task(
    "exc_system_exit",
    "warning",
    "import sys\ndef task_func(args):\n    if '--help' in args:\n        print('usage: x')\n"
    "        sys.exit(0)\n    return len(args)\n",
    "def task_func(args):\n    return len(args)\n",
    """import io, unittest
from contextlib import redirect_stdout
class TestCases(unittest.TestCase):
    def test_help(self):
        buf = io.StringIO()
        with redirect_stdout(buf), self.assertRaises(SystemExit):
            task_func(['--help'])
        self.assertIn('usage', buf.getvalue())
    def test_count(self):
        self.assertEqual(task_func(['a', 'b']), 2)
""",
)

# --- pyplot's current figure ---------------------------------------------------------------
task(
    "pyplot_gca_line",
    "pyplot_state",
    "import matplotlib.pyplot as plt\ndef task_func(values):\n    plt.plot(values)\n"
    "    plt.title('Trend')\n",
    "import matplotlib.pyplot as plt\ndef task_func(values):\n    plt.plot(sorted(values))\n",
    """import unittest
import matplotlib.pyplot as plt
class TestCases(unittest.TestCase):
    def tearDown(self):
        plt.close('all')
    def test_current_axes(self):
        task_func([3, 1, 2])
        ax = plt.gca()
        self.assertEqual(ax.get_title(), 'Trend')
        self.assertEqual(list(ax.lines[0].get_ydata()), [3, 1, 2])
""",
    ("matplotlib",),
)
task(
    "pyplot_gcf_bars",
    "pyplot_state",
    "import matplotlib.pyplot as plt\ndef task_func(counts):\n"
    "    plt.bar(list(counts), list(counts.values()))\n    plt.xlabel('item')\n",
    "import matplotlib.pyplot as plt\ndef task_func(counts):\n"
    "    plt.bar(list(counts), [1] * len(counts))\n",
    """import unittest
import matplotlib.pyplot as plt
class TestCases(unittest.TestCase):
    def test_current_figure(self):
        task_func({'a': 2, 'b': 5})
        fig = plt.gcf()
        ax = fig.axes[0]
        self.assertEqual(ax.get_xlabel(), 'item')
        self.assertEqual([p.get_height() for p in ax.patches], [2, 5])
        plt.close('all')
""",
    ("matplotlib",),
)
task(
    "pyplot_own_axes_passed",
    "pyplot_state",
    "def task_func(ax, values):\n    ax.plot(values)\n    ax.set_ylabel('v')\n    return ax\n",
    "def task_func(ax, values):\n    return ax\n",
    """import unittest
import matplotlib.pyplot as plt
class TestCases(unittest.TestCase):
    def test_draws_on_the_tests_axes(self):
        fig, ax = plt.subplots()
        out = task_func(ax, [1, 2])
        self.assertIs(out, ax)
        self.assertEqual(ax.get_ylabel(), 'v')
        self.assertEqual(len(ax.lines), 1)
        plt.close(fig)
""",
    ("matplotlib",),
)
