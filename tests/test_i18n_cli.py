"""The command line in the reader's language (issue 13): GRIDGOV_LANGUAGE, zh-CN by default, `en` on request.

Messages, notes, tables and refusals change with the language; the one-line summaries scripts parse do not."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import shapely
from click.testing import Result
from typer.testing import CliRunner

from cli.main import app
from gis.errors import InvalidInput
from gis.model import Unit
from i18n import current_language, language
from store.db import make_engine, session_factory, transaction, upgrade
from store.repo import Repository

CODE_TREE = """code,parent,name,level,longitude,latitude
139900000000,139000000000,演示县,county,115.20,36.81
139900101000,139900000000,东关镇,town,115.18,36.80
139900102000,139900000000,西营乡,town,115.22,36.82
"""
BAD_TREE = CODE_TREE + "139900103000,139900000000,北街道,borough,115.21,36.83\n"
HAN = re.compile(r"[\u4e00-\u9fff]")


def gridgov(lang: str | None, db: Path, *args: str | Path) -> Result:
    env = {"GRIDGOV_LANGUAGE": lang} if lang else {}
    return CliRunner(env=env).invoke(app, [*map(str, args), "--database-url", f"sqlite:///{db}"])


def summary(stdout: str) -> str:
    """The machine line (`imported …`, `validated …`), without the draft's own number."""
    return [ln for ln in stdout.splitlines() if re.match(r"^[a-z]+ \w+=", ln)][-1]


def self_crossing(path: Path) -> Path:
    """A township drawn as a bow-tie (a self-intersection the import repairs)."""
    bow = {"type": "Polygon", "coordinates": [[[115.10, 36.70], [115.30, 36.90], [115.30, 36.70], [115.10, 36.90],
                                               [115.10, 36.70]]]}
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": bow, "properties": {"code": "139900101000", "layer": "township"}}]}),
        encoding="utf-8")
    return path


def test_commands_speak_chinese_by_default_and_english_on_request(tmp_path: Path) -> None:
    tree = tmp_path / "tree.csv"
    tree.write_text(CODE_TREE, encoding="utf-8")
    shape = self_crossing(tmp_path / "town.geojson")
    runs = {}
    for lang in (None, "en"):
        db = tmp_path / f"{lang or 'default'}.sqlite"
        first = gridgov(lang, db, "import", tree)
        second = gridgov(lang, db, "import", shape, "--crs", "wgs84")
        listed = gridgov(lang, db, "version", "list")
        assert first.exit_code == second.exit_code == listed.exit_code == 0, second.output
        runs[lang] = (first, second, listed)
    (zh1, zh2, zh_list), (en1, en2, en_list) = runs[None], runs["en"]
    # Machine output is the same in both languages: scripts parse it whatever the reader's language.
    assert summary(zh1.stdout) == summary(en1.stdout) and summary(zh2.stdout) == summary(en2.stdout)
    assert "repaired=1" in summary(zh2.stdout)
    # The note for a person: names the feature and what was repaired, in the reader's language.
    assert "已修复：" in zh2.stderr and "第 1 个要素" in zh2.stderr and "已用 make_valid 修复无效多边形" in zh2.stderr
    assert "repaired:" in en2.stderr and "town.geojson, feature 1 (139900101000)" in en2.stderr
    assert not HAN.search(en2.stderr)
    # The version list: headings and the status word (i18n/terms.py) in the language; the id and name as stored.
    assert "状态" in zh_list.stdout and "草稿" in zh_list.stdout and "draft" not in zh_list.stdout
    assert "status" in en_list.stdout and "draft" in en_list.stdout and "草稿" not in en_list.stdout
    assert current_language() == "zh-CN"  # the English commands did not leave the test process in English


def test_a_refused_import_says_why_in_the_language_and_writes_nothing(tmp_path: Path) -> None:
    tree = tmp_path / "tree.csv"
    tree.write_text(BAD_TREE, encoding="utf-8")
    out = {lang: gridgov(lang, tmp_path / f"{lang}.sqlite", "import", tree) for lang in ("zh-CN", "en")}
    assert out["zh-CN"].exit_code == out["en"].exit_code == 2
    zh, en = out["zh-CN"].stderr, out["en"].stderr
    assert zh.startswith("错误：") and "未知的级别 'borough'" in zh and "未写入任何内容" in zh and "tree.csv:5" in zh
    assert en.startswith("error:") and "unknown level 'borough'" in en and "nothing was written" in en
    assert not HAN.search(en) and "Traceback" not in zh + en
    engine = make_engine(f"sqlite:///{tmp_path / 'zh-CN.sqlite'}")
    try:
        upgrade(engine)
        with transaction(session_factory(engine)) as session:
            assert all(not Repository(session).units(v.id or 0) for v in Repository(session).versions())
    finally:
        engine.dispose()


def test_a_stale_revision_and_a_bad_date_are_refused_in_the_language(tmp_path: Path) -> None:
    tree = tmp_path / "tree.csv"
    tree.write_text(CODE_TREE, encoding="utf-8")
    for lang, stale, bad_day in (("zh-CN", "区划版本 1 在第 0 次修订后已有改动", "不是形如 2026-12-01 的日期"),
                                 ("en", "version 1 changed since revision 0", "is not a date like 2026-12-01")):
        db = tmp_path / f"{lang}.sqlite"
        assert gridgov(lang, db, "import", tree).exit_code == 0
        refused = gridgov(lang, db, "version", "publish", "1", "--effective-from", "2099-01-01", "--revision", "0")
        assert refused.exit_code == 2 and stale in refused.stderr, refused.stderr
        day = gridgov(lang, db, "version", "publish", "1", "--effective-from", "2099-13-01")
        assert day.exit_code == 2 and "--effective-from '2099-13-01'" in day.stderr and bad_day in day.stderr


def test_a_bad_setting_is_named_in_the_language(tmp_path: Path) -> None:
    db = tmp_path / "x.sqlite"
    for lang, words in (("zh-CN", "GRIDGOV_TIMEZONE：未知的时区 'Asia/Nowhere'"),
                        ("en", "GRIDGOV_TIMEZONE: unknown time zone 'Asia/Nowhere'")):
        done = CliRunner(env={"GRIDGOV_LANGUAGE": lang, "GRIDGOV_TIMEZONE": "Asia/Nowhere"}).invoke(
            app, ["info", "--database-url", f"sqlite:///{db}"])
        assert done.exit_code == 2 and words in done.stderr, done.stderr


def test_unit_problems_are_listed_by_layer_word_and_name_code_second(repo: Repository) -> None:
    """`unit V4` is the stable `where`; the listing a person reads names the unit (村（社区） 东庄村（V4））."""
    village = Unit(code="V4", name="东庄村", layer="village", parent_code="T-NONE",
                   geometry=shapely.box(115.0, 36.0, 115.01, 36.01))
    version = repo.working_draft().id or 0
    with pytest.raises(InvalidInput) as refused:
        repo.add_units(version, [village])
    assert refused.value.where == "unit V4"
    zh, en = refused.value.localized("zh-CN"), refused.value.localized("en")
    assert "村（社区） 东庄村（V4）：未知的上级编码 T-NONE" in zh and "unit V4" not in zh
    assert "village 东庄村 (V4): unknown parent code T-NONE" in en
    with language("en"):
        assert "unit V4" not in refused.value.localized()


def test_a_model_check_reads_in_the_language_too(tmp_path: Path) -> None:
    """A problem the data model finds (a pydantic validator raising translated text) is in the reader's language."""
    zone = {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[[115.1, 36.7], [115.2, 36.7],
                                                                                   [115.2, 36.8], [115.1, 36.7]]]},
            "properties": {"code": "Z1", "name": "工业园", "layer": "zone", "kind": "harbour"}}
    path = tmp_path / "zone.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [zone]}), encoding="utf-8")
    zh = gridgov(None, tmp_path / "zh.sqlite", "import", path)
    en = gridgov("en", tmp_path / "en.sqlite", "import", path)
    assert zh.exit_code == en.exit_code == 2
    assert "zone.geojson 第 1 个要素：特殊区域类别必须是" in zh.stderr and "'harbour'" in zh.stderr
    assert "zone.geojson, feature 1: zone kind must be one of" in en.stderr and not HAN.search(en.stderr)


def test_workbook_problems_name_sheet_row_and_column_in_the_language(tmp_path: Path) -> None:
    folder = tmp_path / "目录"
    folder.mkdir()
    (folder / "队伍.csv").write_text("编码,名称\nT1,甲队\n", encoding="utf-8")
    zh = gridgov(None, tmp_path / "zh.sqlite", "catalogue", "import", folder)
    en = gridgov("en", tmp_path / "en.sqlite", "catalogue", "import", folder)
    assert zh.exit_code == en.exit_code == 2
    assert "工作表 队伍、第 1 行、A 列（编码）：未知的列标题 '编码'" in zh.stderr
    assert "缺少文件 执法事项.csv（或 matters.csv）" in zh.stderr and "未写入任何内容" in zh.stderr
    assert "sheet 队伍, row 1, column A (编码): unknown column header '编码'" in en.stderr
    assert "missing file 执法事项.csv (or matters.csv)" in en.stderr and "nothing was written" in en.stderr
