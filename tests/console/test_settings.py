"""Saving what the console remembers: the user's btk.toml keeps its comments and layout, the
tables are replaced rather than duplicated, and the demo uses the per-user settings file."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from console.project import PROJECT_FILE, ProjectError, load_project
from console.settings import load_settings, save_settings, user_settings_path, write_settings
from engine.persist.atomic import TEMP_PREFIX
from engine.testing import reset_engine

pytestmark = pytest.mark.usefixtures("user_settings")  # never the real per-user settings


def test_saving_ui_rewrites_only_the_ui_table(project_dir: Path) -> None:
    path = project_dir / PROJECT_FILE
    before = path.read_text()
    project = load_project(path)
    assert save_settings(project, ui={"theme": "nord", "backtest": {"strategy": "fade", "symbol": "ETHUSDT"}}) == path
    after = path.read_text()
    head = before[: before.index("[ui]")]
    assert after.startswith(head)  # every comment, blank line and key before [ui] untouched
    assert after[len(head) :] == ('[ui]\ntheme = "nord"\n\n[ui.backtest]\nstrategy = "fade"\nsymbol = "ETHUSDT"\n')
    assert project.ui == {"theme": "nord", "backtest": {"strategy": "fade", "symbol": "ETHUSDT"}}
    assert project.notes == []
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(TEMP_PREFIX)] == []


def test_a_second_save_replaces_the_tables_instead_of_adding_more(project_dir: Path) -> None:
    path = project_dir / PROJECT_FILE
    project = load_project(path)
    save_settings(project, ui={"backtest": {"strategy": "fade"}})
    save_settings(project, ui={"theme": "gruvbox", "backtest": {"strategy": "momentum"}}, keys={"walker": "W"})
    save_settings(project, keys={"backtest": None})  # None removes a binding
    text = path.read_text()
    assert text.count("[ui]") == 1 and text.count("[ui.backtest]") == 1 and text.count("[keys]") == 1
    data = tomllib.loads(text)
    assert data["ui"] == {"theme": "gruvbox", "backtest": {"strategy": "momentum"}}
    assert data["keys"] == {"walker": "W"}
    # [keys] stayed where it was, with the comment that introduces it.
    assert '# The console\'s own tables.\n[keys]\nwalker = "W"\n\n[ui]\n' in text
    assert data["walkers"]["compare"]["metric"] == "total_pnl"
    assert "# one day keeps the tests fast" in text
    reset_engine()  # and the file still loads as a project
    reloaded = load_project(path)
    assert reloaded.ui == data["ui"] and reloaded.keys == {"walker": "W"}


def test_tables_are_appended_when_the_file_has_none(tmp_path: Path) -> None:
    path = tmp_path / "x.toml"
    original = '# my project\n[project]\nname = "x"  # the name\n\n[frames.a]\ninterval = "1m"'  # no final newline
    path.write_text(original)
    result = write_settings(path, keys={"quit": "ctrl+q"}, ui={"theme": "dark"})
    text = path.read_text()
    assert text == original + '\n\n[ui]\ntheme = "dark"\n\n[keys]\nquit = "ctrl+q"\n'
    assert result.comments_kept and result.warning is None
    result = write_settings(path, ui={"recent": ("fade", "momentum")})  # a tuple is saved as an array
    assert result.comments_kept and tomllib.loads(path.read_text())["ui"]["recent"] == ["fade", "momentum"]


def test_a_comment_above_the_next_table_stays_with_it(tmp_path: Path) -> None:
    path = tmp_path / "x.toml"
    path.write_text(
        '[ui]\ntheme = "a"  # old comment inside [ui]: the console owns this table\n'
        '\n# bindings\n[keys]\nb = "x"\n\n[ui.dialog]\nlast = 1\n# trailing\n'
    )
    write_settings(path, ui={"theme": "b"})
    assert path.read_text() == (
        '[ui]\ntheme = "b"\n\n[ui.dialog]\nlast = 1\n\n# bindings\n[keys]\nb = "x"\n\n# trailing\n'
    )


def test_crlf_files_keep_their_line_endings(tmp_path: Path) -> None:
    path = tmp_path / "x.toml"
    path.write_bytes(b'# c\r\n[ui]\r\ntheme = "a"\r\n\r\n[keys]\r\nb = "x"\r\n')
    write_settings(path, ui={"theme": "b"})
    assert path.read_bytes() == b'# c\r\n[ui]\r\ntheme = "b"\r\n\r\n[keys]\r\nb = "x"\r\n'


@pytest.mark.parametrize(
    "layout",
    [
        '# keep me?\nui = { theme = "a" }\n[project]\nname = "x"\n',
        '# keep me?\nui.theme = "a"\n[project]\nname = "x"\n',
    ],
)
def test_inline_or_dotted_tables_fall_back_to_a_full_rewrite_with_a_warning(tmp_path: Path, layout: str) -> None:
    path = tmp_path / PROJECT_FILE
    path.write_text(layout)
    result = write_settings(path, ui={"size": 2})
    assert not result.comments_kept
    assert result.warning and "comments were not kept" in result.warning and "btk.toml" in result.warning
    assert tomllib.loads(path.read_text()) == {"ui": {"theme": "a", "size": 2}, "project": {"name": "x"}}
    assert "# keep me?" not in path.read_text()


def test_save_settings_reports_the_fallback_in_the_project_notes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "s.py").write_text(
        'import engine\n\nasync def sig(symbol, when, price):\n    return None\n\nengine.add_strategy("s", "5m", sig)\n'
    )
    path = tmp_path / PROJECT_FILE
    path.write_text(
        'keys = { b = "x" }\n[project]\nmodules = ["s.py"]\n[exchanges.sim]\nkind = "synthetic"\n'
        '[frames.f]\ninterval = "1m"\nstart = 2024-01-01\nend = 2024-01-02\n'
    )
    project = load_project(path)
    assert project.keys == {"b": "x"}
    save_settings(project, keys={"w": "y"})
    save_settings(project, keys={"w": "z"})
    assert len(project.notes) == 1 and "comments were not kept" in project.notes[0]
    assert "comments were not kept" in caplog.text
    assert tomllib.loads(path.read_text())["keys"] == {"b": "x", "w": "z"}


def test_the_demo_saves_to_btk_settings(user_settings: Path) -> None:
    project = load_project()
    assert project.is_demo and project.settings_path == user_settings
    assert not user_settings.exists()
    save_settings(project, ui={"theme": "nord"}, keys={"backtest": "f5"})
    assert user_settings.read_text().startswith("# Settings of the btk console")
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
