"""Bad input gets one clear error naming the file or field and the fix (issue 9): task
files, task-set names, YAML configs, CLI flags, output folders and checkpoint databases,
and the CLI reports any failure in one line on stderr with a non-zero status."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from langgraph_collab import tasks as tasks_module
from langgraph_collab.collection.storage import (
    CheckpointFileError,
    OutputDirError,
    check_checkpoint_db,
    prepare_out_dir,
)
from langgraph_collab.tasks import TaskFormatError, UnknownKindError, load_tasks
from langgraph_collab.train.__main__ import main
from langgraph_collab.train.config import ConfigError, load_config
from langgraph_collab.train.pipeline import stage

ROOT = Path(__file__).resolve().parents[1]
ROW = {"id": "a", "request": "What is 2 + 2?"}


def jsonl(*rows: object) -> str:
    return "".join(json.dumps(row) + "\n" for row in rows)


@pytest.fixture(autouse=True)
def no_hub(monkeypatch):
    """No case may reach the Hugging Face Hub."""

    def refuse(name, split):
        raise AssertionError(f"tried the Hub for {name!r}")

    monkeypatch.setattr(tasks_module, "_read_hub", refuse)


# ---------------------------------------------------------------------- task files

TASK_FILES = [
    ("jsonl-invalid-json", "t.jsonl", jsonl(ROW) + "{oops\n",
     ["line 2, column 2", "not valid JSON", "fix or remove this line"]),
    ("json-invalid-json", "t.json", '[{"id": "a", "request": "q"},\n oops]',
     ["line 2, column 2", "not valid JSON", "fix the file"]),
    ("utf16-with-bom", "t.jsonl", jsonl(ROW).encode("utf-16"), ["UTF-16", "re-save it as UTF-8"]),
    ("utf16-without-bom", "t.json", json.dumps([ROW]).encode("utf-16-le"),
     ["UTF-16 or binary", "re-save it as UTF-8"]),
    ("latin1", "t.jsonl", '{"id": "a", "request": "caf\u00e9?"}\n'.encode("latin-1"),
     ["line 1", "not UTF-8 text", "re-save the file as UTF-8"]),
    ("unknown-kind", "t.jsonl", jsonl({**ROW, "kind": "maths"}),
     ["row 1", "field 'kind'", "did you mean 'math'", "document, ambiguity, or chat"]),
    ("empty-file", "t.jsonl", "", ["no tasks in this file", "save the tasks as .jsonl"]),
    ("blank-lines-only", "t.jsonl", "\n  \n\n", ["no tasks in this file"]),
    ("empty-json-list", "t.json", "[]", ["no tasks in this file"]),
    ("duplicate-id", "t.jsonl", jsonl(ROW, {"id": "b", "request": "q"}, {**ROW, "request": "r"}),
     ["rows 1 and 3", "task id 'a'", "give every task a unique id"]),
    ("duplicate-identical-rows", "t.jsonl", jsonl(ROW, ROW), ["rows 1 and 2", "unique id"]),
    ("row-not-an-object", "t.jsonl", jsonl(["a", "b"]),
     ["row 1", "expected a JSON object", "got list"]),
    ("json-not-a-list", "t.json", '"hello"', ["expected a list of task objects", "write ["]),
    ("no-request", "t.jsonl", jsonl({"id": "a", "reference": "4"}),
     ["row 1", "unknown format", "'request'", "found 'id', 'reference'"]),
    ("empty-request", "t.jsonl", jsonl({"id": "a", "request": ""}),
     ["row 1", "field 'request'", "fix the value"]),
    ("request-not-text", "t.jsonl", jsonl({"id": "a", "request": 5}),
     ["field 'request'", "got 5"]),
    ("unknown-field", "t.jsonl", jsonl({**ROW, "refrence": "4"}),
     ["field 'refrence'", "did you mean 'reference'", "under 'metadata'"]),
    ("metadata-not-an-object", "t.jsonl", jsonl({**ROW, "metadata": "not json"}),
     ["field 'metadata'", "give an object"]),
    ("collabllm-without-conv-id", "t.jsonl", jsonl({"single_turn_prompt": "q"}),
     ["field 'conv_id' is missing", "add it", "collabllm format"]),
    ("math-without-solution", "t.jsonl", jsonl({"problem": "1+1?"}),
     ["field 'solution' is missing", "math format"]),
    ("parquet-that-is-not", "t.parquet", b"PAR? definitely not parquet",
     ["not a readable Parquet file", "write it again"]),
    ("unsupported-ending", "t.csv", "id,request\na,q\n",
     ["unsupported file type '.csv'", ".jsonl (one JSON object per line)"]),
    ("jsonl-holding-one-json-list", "t.jsonl", "[\n" + json.dumps(ROW) + "\n]\n",
     ["line 1", "rename the file to .json"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "content", "parts"),
    [case[1:] for case in TASK_FILES],
    ids=[case[0] for case in TASK_FILES],
)
def test_a_bad_task_file_names_itself_the_place_and_the_fix(tmp_path, name, content, parts):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    with pytest.raises(TaskFormatError) as error:
        load_tasks(path)
    message = str(error.value)
    assert str(path) in message
    for part in parts:
        assert part in message


@pytest.mark.parametrize("name", ["t.jsonl", "t.json"])
def test_a_utf8_byte_order_mark_just_loads(tmp_path, name):
    path = tmp_path / name
    text = jsonl(ROW) if name.endswith("l") else json.dumps([ROW])
    path.write_bytes(text.encode("utf-8-sig"))
    assert [task.id for task in load_tasks(path)] == ["a"]


def test_rows_without_ids_get_stable_ids_and_identical_ones_merge(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text(jsonl({"request": "q"}, {"request": "q"}, {"problem": "p", "solution": "1"}))
    first, math = load_tasks(path)
    assert (first.id, math.id) == (load_tasks(path)[0].id, load_tasks(path)[1].id)
    assert len(first.id) == 12 and math.kind == "math"


@pytest.mark.parametrize(
    "name",
    ["data/x.jsonl", "./tasks", "../elsewhere/tasks", "/no/such/tasks.json", "~/nope.parquet",
     "a/b/c", "data\\x.jsonl"],
)  # fmt: skip
def test_a_missing_local_path_fails_at_once_without_the_hub(name):
    with pytest.raises(FileNotFoundError) as error:
        load_tasks(name)
    message = str(error.value)
    assert "Task file not found" in message and name in message
    assert str(Path.cwd()) in message and "check the path" in message


def test_a_path_under_an_existing_folder_is_local_even_without_an_ending(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    with pytest.raises(FileNotFoundError, match="Task file not found: data/tasks"):
        load_tasks("data/tasks")


def test_an_unknown_name_suggests_the_bundled_set():
    with pytest.raises(FileNotFoundError, match=r"No task set 'maths': not a bundled set.*'math'"):
        load_tasks("maths")


def test_a_folder_given_as_tasks_lists_its_task_files(tmp_path):
    (tmp_path / "train.jsonl").write_text(jsonl(ROW))
    with pytest.raises(TaskFormatError, match=r"is a folder, not a task file \(it holds train"):
        load_tasks(tmp_path)


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"split": "tset"}, ValueError, "split must be 'train', 'test' or 'all', not 'tset'; did"),
        ({"limit": 0}, ValueError, "limit must be a whole number >= 1, or None"),
        ({"limit": -3}, ValueError, "limit must be a whole number >= 1"),
        ({"limit": "3"}, ValueError, "got '3'"),
        ({"limit": True}, ValueError, "got True"),
        ({"kind": "maths"}, UnknownKindError, "unknown task kind 'maths'; did you mean 'math'"),
    ],
)
def test_bad_loader_arguments(options, error, message):
    with pytest.raises(error, match=message.replace("(", r"\(")):
        load_tasks("math", **options)


def test_a_split_left_empty_says_how_to_fix_it(tmp_path):
    path = tmp_path / "three.jsonl"
    path.write_text(jsonl(*({"id": str(i), "request": f"q{i}"} for i in range(3))))
    with pytest.raises(TaskFormatError, match="no tasks in the 'test' split: it has 3 task"):
        load_tasks(path, split="test")
    assert len(load_tasks(path, split="train")) == 3


# ---------------------------------------------------------------------- YAML configs

YAML_CASES = [
    ("empty", "", ["the file is empty", "drop --config"]),
    ("comments-only", "# nothing yet\n", ["the file is empty"]),
    ("a-list", "- method\n- dpo\n", ["expected a mapping", "got a YAML list", "method: dpo"]),
    ("a-scalar", "dpo\n", ["got a YAML str"]),
    ("syntax", "name: run\nmethod: [dpo\n", ["line 3", "not valid YAML", "quote values"]),
    ("string-for-int", "max_steps: lots\n",
     ["config key 'max_steps': expected int or none, got str 'lots'", "a whole number"]),
    ("float-for-int", "samples: 1.5\n", ["'samples': expected int", "a whole number such as"]),
    ("negative-count", "samples: -2\n", ["samples=-2: must be at least 1"]),
    ("unknown-key", "learnig_rate: 0.1\n", ["unknown key 'learnig_rate'",
                                           "did you mean 'learning_rate'", "--help"]),
    ("duplicate-key", "method: dpo\nseed: 1\nmethod: sft\n",
     ["key 'method' is given twice (lines 1 and 3)", "keep one"]),
    ("nested-section", "training:\n  method: sft\n",
     ["sections are not nested", "at the top level", "'method: ...'"]),
    ("int-for-bool", "lora: 3\n", ["'lora': expected bool, got int 3", "true or false"]),
    ("null-required", "method: null\n", ["'method': must not be empty", "remove the key"]),
    ("infinite", "learning_rate: .inf\n", ["learning_rate=inf: must be a finite number"]),
    ("unknown-method", "method: dop\n", ["method='dop'", "did you mean 'dpo'"]),
    ("bad-stage", "stages: [collect, trian]\n", ["unknown ['trian']", "did you mean 'train'"]),
    ("zero-limit", "train_limit: 0\n", ["train_limit=0: must be at least 1, or none"]),
    ("misspelt-trl-field", "lr_sheduler_type: cosine\n",
     ["unknown key 'lr_sheduler_type'", "did you mean 'lr_scheduler_type'", "--help"]),
    ("bad-trl-choice", "lr_scheduler_type: cosin\n",
     ["TRL option 'lr_scheduler_type' (DPOConfig): expected one of", "did you mean 'cosine'"]),
    ("misspelt-role-option", "judge_methd: text\n", ["did you mean 'judge_method'"]),
    ("nested-roles", "roles:\n  judge: {method: text}\n", ["sections are not nested"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "parts"), [case[1:] for case in YAML_CASES], ids=[case[0] for case in YAML_CASES]
)
def test_a_bad_yaml_config_names_the_file_the_key_and_the_fix(tmp_path, text, parts):
    path = tmp_path / "run.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as error:
        load_config(["--config", str(path)], exit_on_error=False)
    message = str(error.value)
    assert all(part in message for part in parts), message
    if not parts[0].startswith(("samples=", "learning_rate=", "method=", "unknown [", "train_")):
        assert str(path) in message  # validation problems name the key; file problems the file


def test_yaml_that_is_not_utf8_or_not_a_file(tmp_path):
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("name: caf\u00e9\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"latin.yaml: not UTF-8 text .*save it as UTF-8"):
        load_config(["--config", str(latin)], exit_on_error=False)
    with pytest.raises(ConfigError, match="is a folder: give a YAML file"):
        load_config(["--config", str(tmp_path)], exit_on_error=False)
    with pytest.raises(ConfigError, match=r"config file not found: .*nope.yaml \(working folder"):
        load_config(["--config", str(tmp_path / "nope.yaml")], exit_on_error=False)


def test_a_yaml_byte_order_mark_just_loads(tmp_path):
    path = tmp_path / "bom.yaml"
    path.write_bytes("name: bom\n".encode("utf-8-sig"))
    assert load_config(["--config", str(path)], exit_on_error=False).name == "bom"


# ---------------------------------------------------------------------- flags

FLAG_CASES = [
    (["--lerning-rate", "1e-4"], "unknown option --lerning-rate (did you mean '--learning-rate'?)"),
    (["--max_step=3"], "unknown option --max_step=3 (did you mean '--max_steps'?)"),
    (["collect"], "unexpected argument 'collect': options take the form --name value"),
    (["--max-steps"], "--max-steps: expected one argument (see --help)"),
    (["--samples", "two"], "argument --samples: invalid int value: 'two'"),
    (["--learning-rate", "nan"], "learning_rate=nan: must be a finite number"),
    (["--stages", "colect"], "did you mean 'collect'?"),
    (["--stages", ""], "stages='': give at least one of collect"),
    (["--dataset", "d.jsonl", "--stages", "collect,export"],
     "--dataset replaces the collect and export stages"),
    (["--eval-limit", "0"], "eval_limit=0: must be at least 1, or none"),
    (["--warmup-ratio", "0.1"], "unknown option --warmup-ratio (did you mean '--warmup-steps'?)"),
    (["--judge-max-tokens", "0"], "judge_max_tokens=0: must be at least 1"),
]  # fmt: skip


@pytest.mark.parametrize(("argv", "message"), FLAG_CASES, ids=lambda v: str(v)[:30])
def test_a_bad_flag_names_itself_and_the_fix(argv, message):
    with pytest.raises(ConfigError) as error:
        load_config(argv, exit_on_error=False)
    assert message in str(error.value)


# ---------------------------------------------------------------------- output and checkpoints


def test_an_output_folder_is_created_and_checked(tmp_path):
    assert prepare_out_dir(tmp_path / "a" / "b") == tmp_path / "a" / "b"
    assert (tmp_path / "a" / "b").is_dir() and not list((tmp_path / "a" / "b").iterdir())


def test_an_output_folder_that_is_a_file_or_under_one(tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    with pytest.raises(OutputDirError, match=r"blocker as an output folder: it is a file"):
        prepare_out_dir(blocker)
    with pytest.raises(OutputDirError, match=r"a part of it is a file \(\S+blocker\); .*--output"):
        prepare_out_dir(blocker / "run" / "deeper")


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (PermissionError(13, "Permission denied"), "permission denied; choose another folder"),
        (OSError(30, "Read-only file system"), "Read-only file system; choose another folder"),
        (OSError(28, "No space left on device"), "No space left on device"),
    ],
)
def test_an_unwritable_output_folder(tmp_path, monkeypatch, error, message):
    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr("langgraph_collab.collection.storage.tempfile.TemporaryFile", fail)
    with pytest.raises(OutputDirError) as raised:
        prepare_out_dir(tmp_path / "out")
    assert str(tmp_path / "out") in str(raised.value) and message in str(raised.value)


def make_checkpoints(path: Path) -> None:
    from langgraph.checkpoint.sqlite import SqliteSaver

    with SqliteSaver.from_conn_string(str(path)) as saver:
        saver.setup()


def test_healthy_absent_and_empty_checkpoint_files_pass(tmp_path):
    check_checkpoint_db(tmp_path / "absent.sqlite")
    (tmp_path / "empty.sqlite").write_bytes(b"")
    check_checkpoint_db(tmp_path / "empty.sqlite")
    make_checkpoints(tmp_path / "ok.sqlite")
    check_checkpoint_db(tmp_path / "ok.sqlite")


def garbage(path: Path) -> bytes:
    path.write_bytes(b"this is not a database at all" * 40)
    return path.read_bytes()


def corrupt(path: Path) -> bytes:
    make_checkpoints(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    return path.read_bytes()


def foreign(path: Path) -> bytes:
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE users (name TEXT)")
    return path.read_bytes()


@pytest.mark.parametrize(
    ("write", "message"),
    [
        (garbage, "is not a usable SQLite checkpoint database (file is not a database)"),
        (corrupt, "checkpoints.sqlite is "),
        (foreign, "not LangGraph's checkpoints (tables: users)"),
    ],
    ids=["garbage", "truncated", "another-programs-db"],
)  # fmt: skip
def test_a_bad_checkpoint_file_is_named_and_left_untouched(tmp_path, write, message):
    path = tmp_path / "checkpoints.sqlite"
    before = write(path)
    with pytest.raises(CheckpointFileError) as error:
        check_checkpoint_db(path)
    assert message in str(error.value) and "move it away (or delete it)" in str(error.value)
    assert path.read_bytes() == before


def test_a_folder_in_place_of_the_checkpoint_file(tmp_path):
    (tmp_path / "checkpoints.sqlite").mkdir()
    with pytest.raises(CheckpointFileError, match="is a folder, not a checkpoint database"):
        check_checkpoint_db(tmp_path / "checkpoints.sqlite")


# ---------------------------------------------------------------------- the CLI


def run_main(capsys, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().err


def assert_one_line(err: str, prefix: str, *parts: str) -> None:
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith(prefix), err
    assert "Traceback" not in err
    for part in parts:
        assert part in err, err


def test_cli_empty_config(tmp_path, capsys):
    (tmp_path / "empty.yaml").write_text("")
    code, err = run_main(capsys, "--config", str(tmp_path / "empty.yaml"))
    assert code == 2
    assert_one_line(err, "error: config: ", "empty.yaml: the file is empty")


def test_cli_missing_task_file(tmp_path, capsys):
    code, err = run_main(capsys, "--output-dir", str(tmp_path), "--tasks", "data/x.jsonl")
    assert code == 2
    assert_one_line(err, "error: collect: FileNotFoundError: Task file not found: data/x.jsonl")


def test_cli_bad_task_kind(tmp_path, capsys):
    path = tmp_path / "t.jsonl"
    path.write_text(jsonl({**ROW, "kind": "maths"}))
    code, err = run_main(capsys, "--output-dir", str(tmp_path), "--tasks", str(path))
    assert code == 2
    assert_one_line(err, "error: collect: TaskFormatError: ", "did you mean 'math'")


def test_cli_output_dir_is_a_file(tmp_path, capsys):
    (tmp_path / "runs").write_text("")
    code, err = run_main(capsys, "--output-dir", str(tmp_path / "runs"))
    assert code == 2
    assert_one_line(err, "error: setup: OutputDirError: Cannot use ", "it is a file")


@pytest.mark.parametrize(
    ("relative", "prefix"),
    [("pipeline.sqlite", "error: setup: "), ("collect/checkpoints.sqlite", "error: collect: ")],
)
def test_cli_corrupt_checkpoints(tmp_path, capsys, relative, prefix):
    path = tmp_path / "demo" / relative
    path.parent.mkdir(parents=True)
    path.write_bytes(b"garbage" * 100)
    code, err = run_main(capsys, "--output-dir", str(tmp_path))
    assert code == 2
    assert_one_line(err, prefix + "CheckpointFileError: ", str(path), "move it away")


def test_cli_evaluating_a_model_never_trained(tmp_path, capsys):
    code, err = run_main(capsys, "--output-dir", str(tmp_path), "--stages", "evaluate")
    assert code == 2
    assert_one_line(err, "error: evaluate: FileNotFoundError: No trained model", "--compare")


@pytest.mark.parametrize(
    ("flags", "prefix"),
    [
        (["--stages", "evaluate", "--compare", "base", "--eval-tasks", "ev/x.jsonl"],
         "error: evaluate: FileNotFoundError: Task file not found: ev/x.jsonl"),
        (["--stages", "train", "--dataset", "exported/dpo.jsonl"],
         "error: train: FileNotFoundError: No dataset at exported/dpo.jsonl"),
    ],
    ids=["missing-eval-tasks", "missing-dataset"],
)  # fmt: skip
def test_cli_missing_inputs_of_later_stages_fail_before_any_work(tmp_path, capsys, flags, prefix):
    code, err = run_main(capsys, "--output-dir", str(tmp_path), *flags)
    assert code == 2
    assert_one_line(err, prefix, "working folder")


def test_cli_validation_problems_come_as_one_short_list(capsys):
    code, err = run_main(capsys, "--samples", "0", "--seed", "-1")
    assert code == 2
    assert err.startswith("error: config: Invalid training configuration:")
    assert len(err.strip().splitlines()) == 3 and "Traceback" not in err


def fail_in_collect(config):
    with stage("collect"):
        raise RuntimeError("401 Unauthorized from openai:gpt-4o-mini\n  (check the API key)")


def test_cli_a_runtime_failure_is_one_line_and_debug_shows_the_traceback(monkeypatch, capsys):
    monkeypatch.setattr("langgraph_collab.train.__main__.run_pipeline", fail_in_collect)
    code, err = run_main(capsys)
    assert code == 1
    assert_one_line(
        err, "error: collect: RuntimeError: 401 Unauthorized from openai:gpt-4o-mini | (check"
    )
    code, err = run_main(capsys, "--debug")
    assert code == 1 and "Traceback" in err and err.strip().splitlines()[-1].startswith("error:")


def test_cli_in_a_real_process_empty_config_and_missing_tasks(tmp_path):
    (tmp_path / "empty.yaml").write_text("")
    for args in (
        ["--config", str(tmp_path / "empty.yaml")],
        ["--output-dir", str(tmp_path), "--tasks", "data/x.jsonl"],
    ):
        out = subprocess.run(
            [sys.executable, "-m", "langgraph_collab.train", *args],
            capture_output=True, text=True, cwd=ROOT, env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )  # fmt: skip
        assert out.returncode == 2 and out.stdout == ""
        assert len(out.stderr.strip().splitlines()) == 1, out.stderr
        assert out.stderr.startswith("error: ") and "Traceback" not in out.stderr
