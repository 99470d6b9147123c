"""Saving what the console remembers: never into the user's btk.toml (it stays byte for byte as
written) but into btk.ui.toml beside it, whose values override btk.toml's hand-written [ui]/[keys]
with a note; the demo uses the per-user settings file."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from console.project import PROJECT_FILE, ProjectError, load_project
from console.settings import UI_STATE_FILE, load_settings, save_settings, user_settings_path, write_settings
from engine.persist.atomic import TEMP_PREFIX
from engine.testing import reset_engine

pytestmark = pytest.mark.usefixtures("user_settings")  # never the real per-user settings


def test_saving_never_touches_btk_toml_and_writes_beside_it(project_dir: Path) -> None:
    path = project_dir / PROJECT_FILE
    before = path.read_bytes()
    project = load_project(path)
    assert project.settings_path == project_dir / UI_STATE_FILE
    saved = save_settings(project, ui={"theme": "nord", "backtest": {"strategy": "fade", "symbol": "ETHUSDT"}})
    assert saved == project_dir / UI_STATE_FILE
    assert path.read_bytes() == before  # the user's file, untouched
    data = tomllib.loads(saved.read_text())
    assert data["ui"]["theme"] == "nord" and data["ui"]["backtest"] == {"strategy": "fade", "symbol": "ETHUSDT"}
    assert saved.read_text().startswith("# What btk-console remembers")
    assert project.ui["theme"] == "nord"
    assert [p.name for p in project_dir.iterdir() if p.name.startswith(TEMP_PREFIX)] == []


def test_a_second_save_replaces_values_and_none_removes_one(project_dir: Path) -> None:
    path = project_dir / PROJECT_FILE
    project = load_project(path)
    save_settings(project, ui={"backtest": {"strategy": "fade"}})
    save_settings(project, ui={"theme": "gruvbox", "backtest": {"strategy": "momentum"}}, keys={"walker": "W"})
    save_settings(project, keys={"backtest": None, "stop": "S"})
    save_settings(project, keys={"stop": None})  # None removes a saved binding
    data = tomllib.loads((project_dir / UI_STATE_FILE).read_text())
    assert data == {"ui": {"theme": "gruvbox", "backtest": {"strategy": "momentum"}}, "keys": {"walker": "W"}}
    reset_engine()  # and the project loads with them
    reloaded = load_project(path)
    assert reloaded.ui["theme"] == "gruvbox" and reloaded.keys["walker"] == "W" and "stop" not in reloaded.keys


def test_btk_toml_tables_are_defaults_and_an_override_is_explained(tmp_path: Path) -> None:
    (tmp_path / "s.py").write_text(
        'import engine\n\nasync def sig(symbol, when, price):\n    return None\n\nengine.add_strategy("s", "5m", sig)\n'
    )
    path = tmp_path / PROJECT_FILE
    path.write_text(
        '[project]\nmodules = ["s.py"]\n[exchanges.sim]\nkind = "synthetic"\n'
        '[frames.f]\ninterval = "1m"\nstart = 2024-01-01\nend = 2024-01-02\n'
        '# my own choices\n[ui]\ntheme = "nord"\n[ui.backtest]\nsymbol = "BTCUSDT"\n[keys]\nwalker = "W"\n'
    )
    before = path.read_bytes()
    project = load_project(path)
    assert project.ui == {"theme": "nord", "backtest": {"symbol": "BTCUSDT"}}
    assert project.keys == {"walker": "W"} and project.notes == []
    save_settings(project, ui={"theme": "gruvbox", "backtest": {"strategy": "s"}})
    assert path.read_bytes() == before
    reset_engine()
    again = load_project(path)
    assert again.ui == {"theme": "gruvbox", "backtest": {"symbol": "BTCUSDT", "strategy": "s"}}
    assert again.keys == {"walker": "W"}
    assert again.notes == ["btk.toml [ui] theme = 'nord' is overridden by btk.ui.toml ('gruvbox')"]


def test_the_console_refuses_to_write_a_project_file(tmp_path: Path) -> None:
    path = tmp_path / PROJECT_FILE
    path.write_text('[project]\nname = "x"\n')
    with pytest.raises(ProjectError, match=r"does not write a project file; its settings go to btk\.ui\.toml"):
        write_settings(path, ui={"theme": "x"})
    assert path.read_text() == '[project]\nname = "x"\n'


def test_a_tuple_is_saved_as_an_array(tmp_path: Path) -> None:
    path = tmp_path / UI_STATE_FILE
    result = write_settings(path, keys={"quit": "ctrl+q"}, ui={"recent": ("fade", "momentum")})
    assert result.tables == {"ui": {"recent": ["fade", "momentum"]}, "keys": {"quit": "ctrl+q"}}
    assert tomllib.loads(path.read_text())["ui"]["recent"] == ["fade", "momentum"]


def test_a_corrupt_ui_state_file_is_named_and_the_project_still_loads(project_dir: Path) -> None:
    state = project_dir / UI_STATE_FILE
    state.write_text("[ui]\ntheme = \n")
    project = load_project(project_dir / PROJECT_FILE)
    assert project.notes == ["proj/btk.ui.toml line 2, column 9: Invalid value (using proj/btk.toml's [ui]/[keys])"]
    with pytest.raises(ProjectError, match=r"btk\.ui\.toml line 2"):
        save_settings(project, ui={"theme": "x"})
    assert state.read_text() == "[ui]\ntheme = \n"  # never overwritten


def test_the_demo_saves_to_btk_settings(user_settings: Path) -> None:
    project = load_project()
    assert project.is_demo and project.settings_path == user_settings
    assert not user_settings.exists()
    save_settings(project, ui={"theme": "nord"}, keys={"backtest": "f5"})
    assert user_settings.read_text().startswith("# What btk-console remembers")
    assert load_settings(user_settings) == ({"theme": "nord"}, {"backtest": "f5"})
    reset_engine()
    again = load_project()
    assert (again.ui, again.keys) == ({"theme": "nord"}, {"backtest": "f5"})


def test_the_user_settings_path_follows_xdg_then_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BTK_SETTINGS")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert user_settings_path() == tmp_path / "xdg" / "btk" / "settings.toml"
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative/ignored")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert user_settings_path() == tmp_path / "home" / ".config" / "btk" / "settings.toml"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    assert user_settings_path() == tmp_path / "home" / ".config" / "btk" / "settings.toml"


def test_a_missing_settings_file_is_empty_settings(tmp_path: Path) -> None:
    assert load_settings(tmp_path / "nothing.toml") == ({}, {})


def test_a_corrupt_settings_file_is_named_and_the_demo_carries_on(user_settings: Path) -> None:
    user_settings.parent.mkdir(parents=True)
    user_settings.write_text('[ui]\ntheme = "nord"\ntheme2 =\n')
    with pytest.raises(ProjectError, match=r"user/settings\.toml line 3, column 9: Invalid value"):
        load_settings(user_settings)
    project = load_project()
    assert (project.ui, project.keys) == ({}, {})
    assert project.notes == ["user/settings.toml line 3, column 9: Invalid value (using default settings)"]
    with pytest.raises(ProjectError, match=r"user/settings\.toml line 3"):
        save_settings(project, ui={"theme": "x"})
    assert user_settings.read_text() == '[ui]\ntheme = "nord"\ntheme2 =\n'  # never overwritten


def test_a_bad_key_binding_in_the_settings_file_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_text('[ui]\ntheme = "x"\n\n[keys]\nquit = true\n')
    with pytest.raises(ProjectError) as info:
        load_settings(path)
    assert str(info.value) == 'settings.toml line 5: [keys] quit: expected a key such as "b" or "f5", got boolean true'
