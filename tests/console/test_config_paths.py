"""Where camdeck's files live: the config search order, the data folder, and `camdeck config path`.

The autouse ``_isolated_env`` fixture points XDG_CONFIG_HOME, XDG_DATA_HOME and the site root
($CAMDECK_SYSCONFDIR) at fresh tmp folders; these tests put real files there and check which
one camdeck reads.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from camdeck.console.config import BUILTIN_CONFIG, ConfigError, load_settings
from camdeck.console.config_paths import CONFIG_RULES
from tests.conftest import REPO

DEFAULT_TEXT = (REPO / "config.toml").read_text()


def write_config(path: Path, label: str, extra_console: str = "") -> Path:
    """The default rig, with camera asi-left labelled ``label`` (to tell the files apart)."""
    text = DEFAULT_TEXT.replace('label = "stereo left"', f'label = "{label}"')
    if extra_console:
        text = text.replace("[console]\n", f"[console]\n{extra_console}\n", 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def places(workdir, tmp_path):
    """A config file at every place of the search order, each labelled with its rule."""
    return {
        "flag": write_config(tmp_path / "given" / "flag.toml", "flag"),
        "env": write_config(tmp_path / "given" / "env.toml", "env"),
        "cwd": write_config(workdir / "config.toml", "cwd"),
        "user": write_config(Path(os.environ["XDG_CONFIG_HOME"]) / "camdeck" / "config.toml", "user"),
        "site": write_config(Path(os.environ["CAMDECK_SYSCONFDIR"]) / "camdeck" / "config.toml", "site"),
    }


def test_each_rule_wins_in_turn(places, monkeypatch):
    monkeypatch.setenv("CAMDECK_CONFIG", str(places["env"]))
    seen = []
    for rule in CONFIG_RULES:
        settings = load_settings(places["flag"] if rule == "flag" else None)
        choice = settings.config_choice
        seen.append((choice.rule, settings.cameras["asi-left"].label))
        assert [c.rule for c in choice.candidates if c.chosen] == [rule]
        # take this rule's file away: the next rule must win
        if rule == "env":
            monkeypatch.delenv("CAMDECK_CONFIG")
        elif rule in ("cwd", "user", "site"):
            places[rule].unlink()
    assert seen == [("flag", "flag"), ("env", "env"), ("cwd", "cwd"), ("user", "user"), ("site", "site"),
                    ("built-in", "stereo left")]
    assert settings.config_choice.path == BUILTIN_CONFIG


def test_the_user_config_defaults_to_home_dot_config(workdir, tmp_path, monkeypatch):
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    write_config(tmp_path / "home" / ".config" / "camdeck" / "config.toml", "home")
    settings = load_settings()
    assert settings.config_choice.rule == "user" and settings.cameras["asi-left"].label == "home"


def test_the_site_config_lives_in_etc_unless_the_root_is_overridden(monkeypatch):
    from camdeck.console.config_paths import site_config_file

    monkeypatch.delenv("CAMDECK_SYSCONFDIR")
    assert site_config_file() == Path("/etc/camdeck/config.toml")


def test_a_named_file_that_is_missing_never_falls_back(places, monkeypatch, tmp_path):
    with pytest.raises(ConfigError, match="nope.toml: file not found; fix: pass an existing file"):
        load_settings(tmp_path / "nope.toml")
    monkeypatch.setenv("CAMDECK_CONFIG", str(tmp_path / "gone.toml"))
    with pytest.raises(ConfigError, match="gone.toml: file not found"):
        load_settings()


def test_an_empty_config_or_variable_is_refused_never_a_fallback(cli, places, monkeypatch):
    with pytest.raises(ConfigError, match="--config: is empty; fix: pass a path"):
        load_settings("")
    for argv in (["--config", ""], ["--config="]):
        r = cli("cameras", "list", *argv)
        assert r.code == 2 and r.out == ""
        assert r.err.strip() == "camdeck: error: --config is empty; fix: write --config PATH, or leave --config out"
    monkeypatch.setenv("CAMDECK_CONFIG", "")
    r = cli("cameras", "list")
    assert r.code == 2 and r.out == "" and "Traceback" not in r.err
    assert r.err.strip() == ("camdeck: error: $CAMDECK_CONFIG: is set but empty; fix: give it the path of a "
                             "config file, or unset it (unset CAMDECK_CONFIG)")


def test_data_dir_rules_in_order(workdir, tmp_path, monkeypatch, user_data_dir):
    write_config(workdir / "config.toml", "cwd", 'data_dir = "state/here"')
    monkeypatch.setenv("CAMDECK_DATA_DIR", str(tmp_path / "env-data"))
    picks = [load_settings(None, tmp_path / "flag-data").data_choice, load_settings().data_choice]
    monkeypatch.delenv("CAMDECK_DATA_DIR")
    picks.append(load_settings().data_choice)
    (workdir / "config.toml").unlink()
    picks.append(load_settings().data_choice)
    assert [(p.rule, p.path) for p in picks] == [
        ("flag", tmp_path / "flag-data"), ("env", tmp_path / "env-data"),
        ("config", Path("state/here")),              # relative: taken from the current folder, as before
        ("default", user_data_dir)]
    assert user_data_dir == Path(os.environ["XDG_DATA_HOME"]) / "camdeck"
    assert picks[2].reason == "console.data_dir in config.toml"


def test_data_dir_expands_home_and_defaults_under_home(workdir, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    write_config(workdir / "config.toml", "cwd", 'data_dir = "~/rig-data"')
    assert load_settings().data_dir == tmp_path / "home" / "rig-data"
    (workdir / "config.toml").unlink()
    monkeypatch.delenv("XDG_DATA_HOME")
    assert load_settings().data_dir == tmp_path / "home" / ".local" / "share" / "camdeck"


def test_the_built_in_rig_writes_nothing_into_the_current_folder(cli, workdir, user_data_dir):
    r = cli("sim", "bump", "ptz-1", "--pitch", "0.5", "--json")
    assert r.code == 0, r.err
    assert r.json()["file"] == str(user_data_dir / "sim" / "bumps.json")
    assert (user_data_dir / "sim" / "bumps.json").is_file()
    assert list(workdir.iterdir()) == []


def test_a_relative_data_dir_in_a_user_config_is_taken_from_the_current_folder(cli, workdir):
    user = write_config(Path(os.environ["XDG_CONFIG_HOME"]) / "camdeck" / "config.toml", "user",
                        'data_dir = "rel-data"')
    r = cli("sim", "bump", "ptz-1", "--pitch", "0.5", "--json")
    assert r.code == 0, r.err
    assert (workdir / "rel-data" / "sim" / "bumps.json").is_file()
    assert not (user.parent / "rel-data").exists()


def test_config_path_json_lists_every_candidate_in_order(cli, places, workdir, monkeypatch):
    places["cwd"].unlink()
    r = cli("config", "path", "--json", "--data-dir", "dd")
    assert r.code == 0, r.err
    out = r.json()
    config = out["config"]
    assert config["rule"] == "user" and config["path"] == str(places["user"])
    assert config["reason"] == "the user config folder"
    assert [c["rule"] for c in config["candidates"]] == list(CONFIG_RULES)
    by_rule = {c["rule"]: c for c in config["candidates"]}
    assert by_rule["flag"] == {"rule": "flag", "where": "--config", "path": None, "exists": None, "chosen": False}
    assert by_rule["env"]["path"] is None
    assert by_rule["cwd"] == {"rule": "cwd", "where": "./config.toml in the current folder",
                              "path": str(workdir / "config.toml"), "exists": False, "chosen": False}
    assert by_rule["user"]["exists"] is True and by_rule["user"]["chosen"] is True
    assert by_rule["site"] == {"rule": "site", "where": "the site config folder", "path": str(places["site"]),
                               "exists": True, "chosen": False}        # present, but the user file came first
    assert by_rule["built-in"]["path"] == str(BUILTIN_CONFIG) and by_rule["built-in"]["chosen"] is False
    assert out["data_dir"] == {"path": str(workdir / "dd"), "rule": "flag", "reason": "--data-dir"}


def test_config_path_for_people(cli, places, workdir, user_data_dir):
    r = cli("config", "path")
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert lines[0] == f"config file: {workdir / 'config.toml'}"
    assert lines[1] == "  chosen by: cwd (./config.toml in the current folder)"
    assert lines[2] == "  searched, in order:"
    rows = [line.split() for line in lines[3:9]]
    assert [row[0] for row in rows] == list(CONFIG_RULES)
    assert rows[0][1:] == ["not", "given"] and rows[1][1:] == ["not", "set"]
    assert rows[2] == ["cwd", str(workdir / "config.toml"), "exists", "<-", "chosen"]
    assert rows[3] == ["user", str(places["user"]), "exists"]
    assert rows[5] == ["built-in", str(BUILTIN_CONFIG), "exists"]
    assert lines[9] == f"data dir: {user_data_dir}"
    assert lines[10] == "  chosen by: default (no data_dir configured: the user data folder)"


def test_config_path_with_a_broken_config_exits_2_naming_the_file(cli, workdir):
    (workdir / "config.toml").write_text("[console\n")
    r = cli("config", "path", "--json")
    assert r.code == 2
    assert r.json()["error"].startswith("config.toml: is not valid TOML")
