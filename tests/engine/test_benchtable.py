"""``make bench`` collects every bench script's BENCH line into one table, whatever a script does."""

import os
import textwrap

from reliability.benchtable import bench_scripts, main, run_script, table

SCRIPTS = {
    "good.py": 'print("working")\nprint(\'BENCH {"figure": "boot", "value": 0.3, "unit": "s", '
               '"target": "<= 0.5", "pass": true}\')\n',
    "slow_target.py": 'print(\'BENCH {"figure": "stop", "value": 2.5, "unit": "s", "target": "<= 1", '
                      '"pass": false}\')\n',
    "crashes.py": 'import sys\nprint("half")\nsys.stderr.write("Traceback ...\\nRuntimeError: boom\\n")\n'
                  'sys.exit(3)\n',
    "no_line.py": 'print("done, forgot the result")\n',
    "bad_json.py": 'print("BENCH {not json")\n',
    "hangs.py": 'import time\ntime.sleep(30)\n',
    "benchlib.py": 'raise SystemExit("a library, never run")\n',
    "_private.py": 'raise SystemExit("a helper, never run")\n',
}


def _bench_dir(tmp_path):
    for name, text in SCRIPTS.items():
        (tmp_path / name).write_text(textwrap.dedent(text))
    return str(tmp_path)


def test_scripts_are_every_py_but_the_library_and_helpers(tmp_path):
    names = [os.path.basename(p) for p in bench_scripts(_bench_dir(tmp_path))]
    assert names == ["bad_json.py", "crashes.py", "good.py", "hangs.py", "no_line.py", "slow_target.py"]


def test_every_script_gets_a_row_and_broken_ones_show_as_error(tmp_path):
    directory = _bench_dir(tmp_path)
    rows = {r["script"]: r for r in (run_script(p, timeout=2) for p in bench_scripts(directory))}
    assert (rows["good.py"]["status"], rows["good.py"]["value"]) == ("pass", 0.3)
    assert rows["slow_target.py"]["status"] == "FAIL"
    assert rows["crashes.py"]["status"] == "error" and rows["crashes.py"]["error"] == "exit 3: RuntimeError: boom"
    assert rows["no_line.py"]["error"].startswith("last line is not a BENCH line: 'done, forgot")
    assert rows["bad_json.py"]["error"].startswith("BENCH line is not JSON")
    assert rows["hangs.py"]["error"] == "timed out after 2 s"
    text = table(list(rows.values())).splitlines()
    assert [cell.strip() for cell in text[0].split("|")][:4] == ["figure", "value", "target", "result"]
    good = [line for line in text if line.startswith("boot ")][0]
    assert [cell.strip() for cell in good.split("|")][:4] == ["boot", "0.3 s", "<= 0.5", "pass"]
    assert any(line.startswith("(crashes.py)") and "error: exit 3" in line for line in text)


def test_the_command_exits_1_only_for_errors(tmp_path, capsys):
    directory = _bench_dir(tmp_path)
    assert main(["--dir", directory, "--timeout", "2", "--only", "good", "slow_target"]) == 0
    assert main(["--dir", directory, "--timeout", "2", "--only", "crashes.py"]) == 1
    out = capsys.readouterr().out
    assert "1 script(s): 0 pass, 0 FAIL, 1 error" in out
