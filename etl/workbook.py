"""Sheets of typed columns read from and written to an .xlsx workbook (openpyxl) or a folder of CSV files.

This layer knows cells, not meaning: it finds the sheets and header row, refuses what a person must fix in
the file itself (a missing sheet, an unknown or missing header, merged cells, formulas) with the sheet, row
and column of each, and hands every other cell value on as it is. `etl/catalogue.py` gives them meaning.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any

from openpyxl import Workbook, load_workbook
from openpyxl.cell.cell import Cell
from openpyxl.comments import Comment
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.formula import ArrayFormula, DataTableFormula
from openpyxl.worksheet.worksheet import Worksheet

from gis.errors import InvalidInput
from i18n import T, Text
from i18n.units import listing

MAX_ROW = 1_048_576  # Excel's last row: drop-downs cover the whole column
MAX_CELL_CHARS = 32_767  # Excel's limit for one cell


@dataclass(frozen=True)
class Column:
    """One column: its Chinese header, the English alias also accepted, what it holds."""

    key: str
    zh: str
    en: str
    help: str
    kind: str = "text"  # text, code, codes, int, number, date, choice, json
    choices: tuple[tuple[str, str], ...] = ()  # (label shown, value stored); drop-down lists
    required: bool = False  # the cell must be filled
    optional_header: bool = False  # the column may be left out of the sheet
    width: int = 16

    def label(self, value: str | None) -> str | None:
        """The label shown for a stored choice value."""
        return next((lab for lab, v in self.choices if v == value), value)


@dataclass(frozen=True)
class Sheet:
    """One sheet: Chinese name first, English alias accepted, its columns and an example row."""

    key: str
    zh: str
    en: str
    columns: tuple[Column, ...]
    example: dict[str, Any] = field(default_factory=dict)

    def column(self, key: str) -> Column:
        return next(c for c in self.columns if c.key == key)


@dataclass(frozen=True)
class SheetProblem:
    """One thing wrong in a workbook, where a person finds it: sheet, row, column."""

    sheet: str
    row: int | None
    column: str | None  # the column letter
    header: str | None
    message: str | Text  # for a person (English by str(); `located()` renders it in the reader's language)
    structural: bool = False  # a missing sheet or column: references to it cannot be checked

    def __str__(self) -> str:
        where = [f"sheet {self.sheet}"]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column}" + (f" ({self.header})" if self.header else ""))
        elif self.header:
            where.append(f"column {self.header}")
        return f"{', '.join(where)}: {self.message}"

    def located(self) -> Text:
        """The problem for a person, where to look first (sheet, row, column), in the reader's language."""
        where: list[Text] = [T("sheet {sheet}", sheet=self.sheet)]
        if self.row is not None:
            where.append(T("row {row}", row=self.row))
        if self.column is not None:
            where.append(T("column {column} ({header})", column=self.column, header=self.header) if self.header
                         else T("column {column}", column=self.column))
        elif self.header:
            where.append(T("column {column}", column=self.header))
        return T("{where}: {message}", where=listing(where), message=self.message)

    def as_dict(self) -> dict[str, Any]:
        return {"sheet": self.sheet, "row": self.row, "column": self.column, "header": self.header,
                "message": str(self.message)}  # English, like the `problems` of every 422


class WorkbookProblems(InvalidInput):
    """Every problem found in a workbook (nothing was written); `problems` lists them all."""

    def __init__(self, problems: list[SheetProblem], what: str | Text | None = None) -> None:
        self.problems = problems
        shown = listing([T("  - {problem}", problem=p.located()) for p in problems], sep="\n")
        first = problems[0]
        super().__init__(T("{n} problem(s) in {what}; nothing was written:\n{problems}{more}", n=len(problems),
                           what=what or T("the workbook"), problems=shown, more=""),
                         where=f"{first.sheet}" + (f"!{first.column or ''}{first.row}" if first.row else ""))


@dataclass
class RawRow:
    """The non-blank values of one data row, by column key (strings stripped)."""

    number: int
    values: dict[str, Any]
    refused: set[str] = field(default_factory=set)  # keys of cells already reported (e.g. formulas)


@dataclass
class RawSheet:
    """A sheet as read: the column letter of each key, and its non-blank rows."""

    spec: Sheet
    letters: dict[str, str]
    rows: list[RawRow]


def _norm(text: str) -> str:
    return "".join(text.split()).casefold().rstrip("*").replace("（", "(").replace("）", ")")


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _clean(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _find_sheet(names: list[str], spec: Sheet) -> str | None:
    wanted = {_norm(spec.zh), _norm(spec.en)}
    return next((n for n in names if _norm(n) in wanted), None)


IGNORED_HEADERS = {"序号", "no.", "#"}  # the running number offices put first: not data
TITLE_ROWS = 5  # a title (e.g. "某县综合行政执法事项目录", often merged across) may sit above the header row


def _aliases(spec: Sheet) -> dict[str, Column]:
    return {_norm(a): c for c in spec.columns for a in (c.zh, c.en, c.key)}


def _header_row(spec: Sheet, rows: list[list[Any]]) -> int:
    """Index of the header row: the first of the top rows naming at least two of the sheet's columns, else 0."""
    aliases = _aliases(spec)
    for i, row in enumerate(rows[:TITLE_ROWS]):
        if sum(not _blank(v) and _norm(str(v)) in aliases for v in row) >= 2:
            return i
    return 0


def _headers(spec: Sheet, header: list[Any], problems: list[SheetProblem], number: int = 1) -> dict[str, int]:
    """Column index of each key from the header row (row `number`); unknown, repeated and missing headers are
    problems."""
    aliases = _aliases(spec)
    found: dict[str, int] = {}
    for i, value in enumerate(header):
        if _blank(value) or _norm(str(value)) in IGNORED_HEADERS:
            continue
        letter = get_column_letter(i + 1)
        column = aliases.get(_norm(str(value)))
        if column is None:
            names = "、".join(c.zh for c in spec.columns)
            problems.append(SheetProblem(spec.zh, number, letter, str(value).strip(),
                                         T("unknown column header {header}; the {zh} sheet's columns are {names} "
                                           "(or their English names)",
                                           header=repr(str(value).strip()), zh=spec.zh, names=names), structural=True))
        elif column.key in found:
            first = get_column_letter(found[column.key] + 1)
            problems.append(SheetProblem(spec.zh, number, letter, column.zh, T(
                "column {zh} appears twice (first in column {first})", zh=column.zh, first=first), structural=True))
        else:
            found[column.key] = i
    for c in spec.columns:
        if c.key not in found and not c.optional_header:
            problems.append(SheetProblem(spec.zh, number, None, c.zh, T(
                "missing column {zh} ({en}); was its header renamed?", zh=c.zh, en=c.en), structural=True))
    return found


def read_xlsx(source: Path | IO[bytes], specs: tuple[Sheet, ...], name: str | None = None
              ) -> tuple[dict[str, RawSheet], list[SheetProblem]]:
    """The sheets of an .xlsx workbook (a file or its bytes), and every problem in its structure."""
    label = name or (source.name if isinstance(source, Path) else "workbook")
    try:
        wb = load_workbook(source, data_only=False)  # formulas stay formulas, so they can be refused
    except Exception as exc:  # openpyxl raises many types for a file that is not a workbook
        raise InvalidInput(T("cannot read it as an .xlsx workbook ({kind}: {exc}); save it from Excel or WPS "
                             "as .xlsx", kind=type(exc).__name__, exc=exc), where=label) from None
    problems: list[SheetProblem] = []
    out: dict[str, RawSheet] = {}
    for spec in specs:
        name = _find_sheet(wb.sheetnames, spec)
        if name is None:
            problems.append(SheetProblem(spec.zh, None, None, None, T(
                "missing sheet {zh} ({en}); the workbook has {items}", zh=spec.zh, en=spec.en,
                items=', '.join(wb.sheetnames)), structural=True))
            continue
        ws = wb[name]
        out[spec.key] = _read_worksheet(ws, spec, problems)
    return out, problems


def _read_worksheet(ws: Worksheet, spec: Sheet, problems: list[SheetProblem]) -> RawSheet:
    grid = list(ws.iter_rows())
    top = _header_row(spec, [[c.value for c in row] for row in grid])
    header_number = grid[top][0].row if grid else 1
    covered: set[tuple[int, int]] = set()  # cells a merge hides: reported with the merge, not again as blank
    for merged in ws.merged_cells.ranges:
        if merged.max_row < header_number:
            continue  # a title above the header row
        problems.append(SheetProblem(spec.zh, merged.min_row, get_column_letter(merged.min_col), None,
                                     T("merged cells {coord}; unmerge them and fill every cell",
                                       coord=merged.coord)))
        covered.update(cell for cell in merged.cells if cell != (merged.min_row, merged.min_col))
    header = [c.value for c in grid[top]] if grid else []
    index = _headers(spec, header, problems, header_number)
    letters = {k: get_column_letter(i + 1) for k, i in index.items()}
    rows: list[RawRow] = []
    for cells in grid[top + 1:]:
        values: dict[str, Any] = {}
        refused: set[str] = set()
        for key, i in index.items():
            cell = cells[i] if i < len(cells) else None
            if cell is not None and (cell.row, i + 1) in covered:
                refused.add(key)
                continue
            if cell is None or _blank(cell.value):
                continue
            if _is_formula(cell):
                column = spec.column(key)
                problems.append(SheetProblem(spec.zh, cell.row, letters[key], column.zh,
                                             T("a formula ({formula}); type or paste the value",
                                               formula=_formula_text(cell))))
                refused.add(key)
                continue
            values[key] = _clean(cell.value)
        if values or refused:
            rows.append(RawRow(cells[0].row, values, refused))
    return RawSheet(spec, letters, rows)


def _is_formula(cell: Cell) -> bool:
    return cell.data_type == "f" or isinstance(cell.value, ArrayFormula | DataTableFormula)


def _formula_text(cell: Cell) -> str:
    value = cell.value
    text = value.text if isinstance(value, ArrayFormula) else str(value)
    return text if len(text) <= 40 else text[:37] + "…"


def csv_name(spec: Sheet) -> str:
    return f"{spec.zh}.csv"


def read_csv_dir(path: Path, specs: tuple[Sheet, ...]) -> tuple[dict[str, RawSheet], list[SheetProblem]]:
    """The sheets as CSV files in a folder (`队伍.csv` or `teams.csv` …; UTF-8, or GB18030 as Excel saves)."""
    problems: list[SheetProblem] = []
    out: dict[str, RawSheet] = {}
    files = sorted(p for p in path.iterdir() if p.suffix.lower() == ".csv")
    for spec in specs:
        name = _find_sheet([p.stem for p in files], spec)
        if name is None:
            problems.append(SheetProblem(spec.zh, None, None, None, T(
                "missing file {csv_name} (or {en}.csv) in {name}", csv_name=csv_name(spec), en=spec.en,
                name=path.name), structural=True))
            continue
        file = next(p for p in files if p.stem == name)
        grid = _csv_rows(file)
        top = _header_row(spec, list(grid))
        index = _headers(spec, grid[top] if grid else [], problems, top + 1)
        letters = {k: get_column_letter(i + 1) for k, i in index.items()}
        rows = []
        for number, line in enumerate(grid[top + 1:], start=top + 2):
            values = {k: _clean(line[i]) for k, i in index.items() if i < len(line) and not _blank(line[i])}
            if values:
                rows.append(RawRow(number, values))
        out[spec.key] = RawSheet(spec, letters, rows)
    return out, problems


def _csv_rows(file: Path) -> list[list[str]]:
    data = file.read_bytes()
    for encoding in ("utf-8-sig", "gb18030"):  # Excel on Chinese Windows saves "CSV" as GB18030/GBK
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise InvalidInput(T("neither UTF-8 nor GB18030 text; save the CSV as UTF-8"), where=file.name)
    return list(csv.reader(text.splitlines()))


def read_sheets(path: Path, specs: tuple[Sheet, ...]) -> tuple[dict[str, RawSheet], list[SheetProblem]]:
    """An .xlsx workbook, or a folder of CSV files."""
    if not path.exists():
        raise InvalidInput(T("no such file or folder"), where=str(path))
    if path.is_dir():
        return read_csv_dir(path, specs)
    if path.suffix.lower() != ".xlsx":
        raise InvalidInput(T("expected an .xlsx workbook or a folder of CSV files, got {value} (.xls: open it in "
                             "Excel or WPS and save as .xlsx)", value=path.suffix or 'no suffix'), where=path.name)
    return read_xlsx(path, specs)


# -- writing ----------------------------------------------------------------------------------------

HEADER_FONT = Font(bold=True)
REQUIRED_FILL = PatternFill("solid", fgColor="FFF2CC")
OPTIONAL_FILL = PatternFill("solid", fgColor="E2EFDA")


def write_xlsx(target: Path | IO[bytes], specs: tuple[Sheet, ...], rows: dict[str, list[dict[str, Any]]],
               notes: list[list[str]] | None = None) -> None:
    """A workbook with one sheet per spec: headers (with their English name as a comment), drop-downs for
    closed lists, dates formatted as dates, codes as text; then an optional notes sheet."""
    wb = Workbook()
    assert wb.active is not None
    wb.remove(wb.active)
    for spec in specs:
        ws = wb.create_sheet(spec.zh)
        _write_sheet(ws, spec, rows.get(spec.key, []))
    if notes:
        ws = wb.create_sheet("说明")
        for line in notes:
            ws.append(line)
        ws.column_dimensions["A"].width = 18
        ws.column_dimensions["B"].width = 90
        for cell in ws["A"]:
            cell.font = HEADER_FONT
    if isinstance(target, Path):
        target.parent.mkdir(parents=True, exist_ok=True)
    wb.save(target)


def _write_sheet(ws: Worksheet, spec: Sheet, rows: list[dict[str, Any]]) -> None:
    ws.append([c.zh for c in spec.columns])
    for i, c in enumerate(spec.columns, start=1):
        cell = ws.cell(row=1, column=i)
        cell.font = HEADER_FONT
        cell.fill = REQUIRED_FILL if c.required else OPTIONAL_FILL
        cell.comment = Comment(f"{c.en}: {c.help}", "GridGov", width=320, height=120)
        ws.column_dimensions[get_column_letter(i)].width = c.width
    for n, row in enumerate(rows, start=2):
        for i, c in enumerate(spec.columns, start=1):
            value = row.get(c.key)
            if value is None or value == "":
                continue
            if isinstance(value, dict | list):  # an attribute of an unexpected shape: shown, never a crash
                value = json.dumps(value, ensure_ascii=False, sort_keys=True)
            if isinstance(value, str) and len(value) > MAX_CELL_CHARS:
                raise InvalidInput(T("{zh} of row {n} is {n2} characters, over Excel's {MAX_CELL_CHARS}",
                                     zh=c.zh, n=n, n2=len(value), MAX_CELL_CHARS=MAX_CELL_CHARS),
                                   where=f"{spec.zh}!{get_column_letter(i)}{n}")
            cell = ws.cell(row=n, column=i, value=value)
            if c.kind == "date":
                cell.number_format = "yyyy-mm-dd"
            elif isinstance(value, str):
                cell.number_format = "@"  # text: Excel must not turn 139900104000 into 1.399E+11
    ws.freeze_panes = "A2"
    for i, c in enumerate(spec.columns, start=1):
        letter = get_column_letter(i)
        target = f"{letter}2:{letter}{MAX_ROW}"
        if c.choices:
            dv = DataValidation(type="list", formula1='"' + ",".join(lab for lab, _ in c.choices) + '"',
                                allow_blank=True, showErrorMessage=True, errorTitle=c.zh,
                                error=f"{c.zh}: choose one of " + "、".join(lab for lab, _ in c.choices))
        elif c.kind == "date":
            dv = DataValidation(type="date", operator="greaterThan", formula1="1", allow_blank=True,
                                showErrorMessage=True, errorStyle="warning", errorTitle=c.zh,
                                error=f"{c.zh}: a date, e.g. 2026-01-01")
        else:
            continue
        dv.add(target)
        ws.add_data_validation(dv)


def csv_text(value: Any) -> str:
    """A cell value as CSV text (dates ISO, JSON-able values as they are)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def write_csv_dir(path: Path, specs: tuple[Sheet, ...], rows: dict[str, list[dict[str, Any]]]) -> None:
    """One UTF-8 (with BOM, so Excel reads the Chinese) CSV file per sheet in the folder."""
    path.mkdir(parents=True, exist_ok=True)
    for spec in specs:
        with (path / csv_name(spec)).open("w", newline="", encoding="utf-8-sig") as fh:
            writer = csv.writer(fh)
            writer.writerow([c.zh for c in spec.columns])
            for row in rows.get(spec.key, []):
                writer.writerow([csv_text(row.get(c.key)) for c in spec.columns])
