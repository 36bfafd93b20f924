"""The config file: found, checked with file, line and key named, resolved with each setting's
source, and `config check` / `init --config` as an ops engineer uses them."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SERVICE_EMAIL, write_book
from sheets_fake import FakeSheets

from kakosheet import config
from kakosheet.backends.gsheets import GSheetsBackend
from kakosheet.template import build

NOW = "2026-11-22T10:00:00+00:00"


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kakosheet", *args], capture_output=True, text=True, timeout=180, cwd=cwd)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_the_example_file_holds_every_setting_and_is_itself_valid(tmp_path: Path) -> None:
    r = run("init", "--config", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    text = (tmp_path / "kakosheet.toml").read_text()
    for setting in config.SETTINGS:
        assert re.search(rf"^# {setting.key} = ", text, re.M), setting.key  # there, explained, and commented out
    loaded = config.load(tmp_path / "kakosheet.toml")
    assert loaded.targets() == []
    again = run("init", "--config", cwd=tmp_path)
    assert again.returncode == 1 and "exists; pass --force" in again.stderr
    uncommented = re.sub(r"^# (\w+ = .*)$", r"\1", text, flags=re.M)  # every example value is one the schema takes
    uncommented = uncommented.replace('# [[workbook]]', '[[workbook]]')
    config.load(write(tmp_path / "all.toml", uncommented))


@pytest.mark.parametrize(("text", "expected"), [
    ("[defaults]\nbackup = 3\n", r"x\.toml:2: \[defaults\] backup: unknown key; did you mean backups\?"),
    ("[defaults]\ntimezone = 'Asia/Shanghai'\n\n[[workbook]]\nname = 'a'\npath = 'a.xlsx'\n\n[[workbook]]\nname = 'b'\npath = 'b.xlsx'\nbackups = 'three'\n",
     r"x\.toml:11: \[\[workbook\]\] #2 backups: must be a whole number"),
    ("[defaults]\ndeadline = 0.5\n", r"x\.toml:2: \[defaults\] deadline: must be 1 or more"),
    ("[defaults]\nignore_open = 'yes'\n", r"x\.toml:2: \[defaults\] ignore_open: must be true or false"),
    ("[defaults]\nlanguage = 'fr'\n", r"x\.toml:2: \[defaults\] language: must be one of 'en' or 'zh'|x\.toml:2: \[defaults\] language: must be one of 'en', 'zh'"),
    ("[defaults]\ntimezone = 'Mars/Olympus'\n", r"x\.toml:2: \[defaults\] timezone: is not a time zone kakosheet knows"),
    ("[[workbook]]\nname = 'a'\n", r"x\.toml:1: \[\[workbook\]\] #1: needs exactly one of path .* and url"),
    ("[[workbook]]\nname = 'a'\npath = 'a.csv'\n", r"x\.toml:1: \[\[workbook\]\] #1: path must end in .xlsx or .xlsm"),
    ("[workbook]\nname = 'a'\n", r"x\.toml:1: workbook: must be an array of tables"),
    ("[default]\ntimezone = 'UTC'\n", r"x\.toml:1: default: unknown key; did you mean defaults\?"),
    ("[defaults]\ntimezone = Asia/Shanghai\n", r"x\.toml:2: not valid TOML: .*\(column \d+\)"),
    ("[[workbook]]\nname = 'a'\npath = 'a.xlsx'\n[[workbook]]\nname = 'a'\npath = 'b.xlsx'\n", r"x\.toml: more than one \[\[workbook\]\] is called a"),
], ids=["unknown-key", "wrong-type-second-workbook", "below-minimum", "not-a-bool", "not-a-choice", "unknown-zone", "no-place",
        "not-a-workbook", "table-not-array", "unknown-table", "toml-syntax", "same-name"])
def test_a_wrong_file_is_one_clear_error_naming_file_line_and_key(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path / "x.toml", text)
    with pytest.raises(config.ConfigError) as e:
        config.load(path)
    assert re.search(expected, str(e.value)), str(e.value)
    r = run("config", "check", "--config", str(path))
    assert r.returncode == 1 and re.search(expected, r.stderr), r.stderr
    assert "Traceback" not in r.stderr


def test_a_key_pasted_in_place_of_its_file_is_refused_without_being_shown(tmp_path: Path) -> None:
    secret = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7Vsecret"
    path = write(tmp_path / "x.toml", f'[defaults]\ncredentials = """-----BEGIN PRIVATE KEY-----\n{secret}\n-----END PRIVATE KEY-----"""\n')
    r = run("config", "check", "--config", str(path))
    assert r.returncode == 1 and "must name the file that holds the service-account key" in r.stderr
    assert secret not in r.stdout + r.stderr
    unknown = write(tmp_path / "y.toml", f'[defaults]\npassword = "{secret}"\n')
    r = run("config", "check", "--config", str(unknown))
    assert r.returncode == 1 and "password: unknown key" in r.stderr and secret not in r.stdout + r.stderr


def test_settings_come_from_the_command_line_then_the_workbook_then_defaults_then_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path / "kakosheet.toml", (
        "[defaults]\n"
        "backups = 5\n"
        "lock_timeout = 30\n"
        "\n"
        "[[workbook]]\n"
        "name = 'sz'\n"
        "path = 'books/sz.xlsx'\n"
        "backups = 1\n"
    ))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", "/etc/key.json")
    cfg = config.load(path)
    (target,) = cfg.targets()
    assert target.location == str(tmp_path / "books" / "sz.xlsx")  # relative to the file's folder, not the current one
    resolved = config.resolve(target, None, {"lock_timeout": 5.0, "backups": None})
    assert resolved.settings["backups"] == 1 and resolved.sources["backups"] == "kakosheet.toml [[workbook]] sz, line 8"
    assert resolved.settings["lock_timeout"] == 5.0 and resolved.sources["lock_timeout"] == "command line"
    assert resolved.settings["credentials"] == "/etc/key.json" and resolved.sources["credentials"] == "environment GOOGLE_APPLICATION_CREDENTIALS"
    assert resolved.settings["deadline"] == 120 and resolved.sources["deadline"] == "default"
    other = config.resolve(None, str(tmp_path / "other.xlsx"), {})
    assert other.settings["backups"] == 3 and other.name == "other"
    assert cfg.target("sz") is not None and cfg.target(str(tmp_path / "books" / "sz.xlsx")) is not None and cfg.target("nope") is None


def test_the_file_is_found_here_then_beside_the_workbook_or_where_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    here, there = tmp_path / "here", tmp_path / "there"
    here.mkdir()
    there.mkdir()
    assert config.find(None, str(there / "b.xlsx"), cwd=here) is None
    write(there / "kakosheet.toml", "")
    assert config.find(None, str(there / "b.xlsx"), cwd=here) == there / "kakosheet.toml"
    write(here / "kakosheet.toml", "")
    assert config.find(None, str(there / "b.xlsx"), cwd=here) == here / "kakosheet.toml"
    assert config.find(str(there / "kakosheet.toml"), None, cwd=here) == there / "kakosheet.toml"
    with pytest.raises(config.ConfigError, match="no such config file"):
        config.find(str(tmp_path / "missing.toml"))


def test_config_check_says_what_can_be_reached_and_where_each_setting_comes_from(tmp_path: Path, fake: FakeSheets) -> None:
    write_book(tmp_path / "sz.xlsx", cases=5)
    sid = fake.create_spreadsheet("Customer service", time_zone="Asia/Shanghai")
    GSheetsBackend(f"gsheets://{sid}").create(build("en"))
    path = write(tmp_path / "kakosheet.toml", (
        "[defaults]\n"
        "timezone = 'Asia/Shanghai'\n"
        "\n"
        "[[workbook]]\n"
        "name = 'sz'\n"
        "path = 'sz.xlsx'\n"
        "backups = 1\n"
        "\n"
        "[[workbook]]\n"
        "name = 'cs'\n"
        f"url = 'gsheets://{sid}'\n"
        "\n"
        "[[workbook]]\n"
        "name = 'gone'\n"
        "path = 'gone.xlsx'\n"
    ))
    r = run("config", "check", cwd=tmp_path)
    assert r.returncode == 1, r.stderr  # one workbook cannot be reached
    out = r.stdout
    assert f"{path}: valid, 3 workbook(s)" in out
    assert re.search(r"^sz: .*sz\.xlsx\n  reachable: yes \(0\.\d MiB, saved ", out, re.M)
    assert re.search(rf"^cs: gsheets://{sid}\n  reachable: yes \('Customer service', \d+ tabs, as {re.escape(SERVICE_EMAIL)}\)", out, re.M)
    assert re.search(r"^gone: .*gone\.xlsx\n  reachable: NO: .*no such workbook", out, re.M)
    assert re.search(r"^  backups\s*= 1 +\(kakosheet\.toml \[\[workbook\]\] sz, line 7\)$", out, re.M)
    assert re.search(r"^  timezone\s*= Asia/Shanghai +\(kakosheet\.toml \[defaults\], line 2\)$", out, re.M)
    assert re.search(r"^  lock_timeout\s*= 60 +\(default\)$", out, re.M)
    offline = run("config", "check", "--offline", cwd=tmp_path)
    assert offline.returncode == 0 and "reachable" not in offline.stdout


def test_a_workbook_named_in_the_file_is_synced_with_its_settings(tmp_path: Path) -> None:
    book = write_book(tmp_path / "books" / "sz.xlsx", cases=10) if (tmp_path / "books").mkdir() is None else None
    assert book is not None
    write(tmp_path / "kakosheet.toml", "[[workbook]]\nname = 'sz'\npath = 'books/sz.xlsx'\nbackups = 0\nid_prefix = 'SZ'\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    r = run("sync", "sz", "--config", str(tmp_path / "kakosheet.toml"), "--now", NOW, cwd=elsewhere)
    assert r.returncode == 0, r.stderr
    assert "new IDs: 10" in r.stdout
    import openpyxl

    ids = [c.value for c in openpyxl.load_workbook(book)["Cases"]["A"][1:] if c.value]
    assert len(ids) == 10 and all(i.startswith("SZ-") for i in ids)
    assert not (book.parent / ".kakosheet-backups").exists() or not any((book.parent / ".kakosheet-backups").iterdir())
    unknown = run("sync", "nope", "--config", str(tmp_path / "kakosheet.toml"), cwd=elsewhere)
    assert unknown.returncode == 2 and "nope: not a workbook" in unknown.stderr and "names sz" in unknown.stderr
