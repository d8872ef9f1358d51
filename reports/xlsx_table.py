"""An Excel workbook of one table, written directly (``xlsx_table``).

The sheet's XML is built by Polars, column by column: a writer that takes the cells one at
a time in Python (xlsxwriter, or Polars' ``write_excel`` over it) spends 100-200 ms of held
GIL on 2,000 rows, and the review app's exports at once then queue behind each other.
One sheet holding an Excel table (header row with filters, frozen), number formats per
column, each column as wide as its longest text.
"""

from __future__ import annotations

import io
import zipfile
from datetime import date

import polars as pl

_XML_ESCAPES = (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&quot;"))
#: Characters XML 1.0 does not allow (C0 controls but tab, newline, carriage return).
_XML_ILLEGAL = r"[\x00-\x08\x0B\x0C\x0E-\x1F]"
#: Excel's day 0 (serial numbers of dates count from it, 1900 date system).
_EXCEL_EPOCH = date(1899, 12, 30)
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PACKAGE_RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml"
_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
#: Built-in number formats (the others get ids from 164, as Excel numbers them).
_BUILTIN_FORMATS = {"": 0, "0": 1, "0.00": 2, "#,##0": 3, "#,##0.00": 4}


def _xml(text: str) -> str:
    """Text (or an attribute value) escaped for XML."""
    for char, entity in _XML_ESCAPES:
        text = text.replace(char, entity)
    return text


def _column_letter(index: int) -> str:
    """Excel's name of the 0-based column ``index`` (0 → A, 26 → AA)."""
    name = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        name = chr(65 + rest) + name
    return name


def _cells(frame: pl.DataFrame, name: str, letter: str, style: int) -> pl.Expr:
    """The XML of a column's cells (empty text for a null: no cell, as Excel writes it)."""
    dtype = frame.schema[name]
    column = pl.col(name)
    ref = pl.concat_str(pl.lit(f'<c r="{letter}'), pl.col("_row"), pl.lit(f'" s="{style}"'))
    if dtype.is_numeric() or dtype == pl.Date:
        if dtype == pl.Date:
            column = (column - pl.lit(_EXCEL_EPOCH)).dt.total_days()
        elif dtype.is_float():
            column = pl.when(column.is_finite()).then(column)  # NaN, ±inf: an empty cell
        return pl.concat_str(ref, pl.lit("><v>"), column.cast(pl.String),
                             pl.lit("</v></c>")).fill_null("")
    text = column.cast(pl.String).str.replace_all(_XML_ILLEGAL, "")
    for char, entity in _XML_ESCAPES[:3]:
        text = text.str.replace_all(char, entity, literal=True)
    return pl.concat_str(ref, pl.lit(' t="inlineStr"><is><t xml:space="preserve">'), text,
                         pl.lit("</t></is></c>")).fill_null("")


def xlsx_table(frame: pl.DataFrame, headers: dict[str, str], formats: dict[str, str], *,
               sheet: str) -> bytes:
    """An Excel workbook of one sheet holding ``frame`` as a table named ``Frame0``.

    ``headers`` names every column in the header row (bold, shaded, frozen, with filter
    buttons); ``formats`` gives number formats by column; text is written as text (never
    a formula or a link) and each column is as wide as its longest text.
    """
    columns = frame.columns
    letters = [_column_letter(i) for i in range(len(columns))]
    custom = sorted({f for f in formats.values() if f not in _BUILTIN_FORMATS})
    format_ids = {**_BUILTIN_FORMATS, **{f: 164 + i for i, f in enumerate(custom)}}
    # Cell styles: 0 default, 1 header, then one per column (its number format).
    styles = [format_ids[formats.get(c, "")] for c in columns]
    lengths = frame.select(pl.col(c).cast(pl.String).str.len_chars().max().fill_null(0)
                           for c in columns).row(0) if frame.height else [0] * len(columns)
    widths = [min(max(len(headers[c]), n + 2 * (c in formats)) * 1.1 + 2, 255)
              for c, n in zip(columns, lengths, strict=True)]
    last = f"{letters[-1]}{max(frame.height, 1) + 1}"   # a table has at least one row
    header = "".join(f'<c r="{letter}1" s="1" t="inlineStr"><is><t>{_xml(headers[c])}</t>'
                     f"</is></c>" for c, letter in zip(columns, letters, strict=True))
    # The rows as UTF-8 bytes straight from Polars (megabytes: no str copied and encoded).
    body: bytes = b"" if frame.is_empty() else frame.with_columns(
        _row=pl.int_range(2, frame.height + 2).cast(pl.String)).select(pl.concat_str(
            pl.lit('<row r="'), pl.col("_row"), pl.lit('">'),
            *[_cells(frame, c, letter, 2 + i)
              for i, (c, letter) in enumerate(zip(columns, letters, strict=True))],
            pl.lit("</row>")).str.join("").cast(pl.Binary))[0, 0]
    cols = "".join(f'<col min="{i}" max="{i}" width="{w:.2f}" style="{2 + i - 1}" '
                   f'customWidth="1"/>' for i, w in enumerate(widths, start=1))
    worksheet = (
        f'{_HEAD}<worksheet xmlns="{_MAIN}" xmlns:r="{_RELS}"><dimension ref="A1:{last}"/>'
        '<sheetViews><sheetView tabSelected="1" workbookViewId="0"><pane ySplit="1" '
        'topLeftCell="A2" activePane="bottomLeft" state="frozen"/><selection '
        'pane="bottomLeft"/></sheetView></sheetViews><sheetFormatPr defaultRowHeight="15"/>'
        f'<cols>{cols}</cols><sheetData><row r="1">{header}</row>'.encode()
        + body + b'</sheetData><pageMargins left="0.7" right="0.7" top="0.75" '
        b'bottom="0.75" header="0.3" footer="0.3"/><tableParts count="1"><tablePart '
        b'r:id="rId1"/></tableParts></worksheet>')
    table = (
        f'{_HEAD}<table xmlns="{_MAIN}" id="1" name="Frame0" displayName="Frame0" '
        f'ref="A1:{last}" totalsRowShown="0"><autoFilter ref="A1:{last}"/>'
        f'<tableColumns count="{len(columns)}">'
        + "".join(f'<tableColumn id="{i}" name="{_xml(headers[c])}"/>'
                  for i, c in enumerate(columns, start=1))
        + '</tableColumns><tableStyleInfo name="TableStyleMedium9" showFirstColumn="0" '
        'showLastColumn="0" showRowStripes="1" showColumnStripes="0"/></table>')
    cell_xfs = ('<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
                '<xf numFmtId="0" fontId="1" fillId="2" borderId="0" xfId="0" applyFont="1" '
                'applyFill="1" applyAlignment="1"><alignment vertical="center"/></xf>'
                + "".join(f'<xf numFmtId="{s}" fontId="0" fillId="0" borderId="0" xfId="0" '
                          f'applyNumberFormat="1" applyAlignment="1"><alignment '
                          f'vertical="center"/></xf>' for s in styles))
    number_formats = "".join(f'<numFmt numFmtId="{format_ids[f]}" formatCode="{_xml(f)}"/>'
                             for f in custom)
    stylesheet = (
        f'{_HEAD}<styleSheet xmlns="{_MAIN}"><numFmts count="{len(custom)}">'
        f"{number_formats}</numFmts><fonts count=\"2\">"
        '<font><sz val="11"/><color theme="1"/><name val="Calibri"/><family val="2"/>'
        '<scheme val="minor"/></font><font><b/><sz val="11"/><color theme="1"/><name '
        'val="Calibri"/><family val="2"/><scheme val="minor"/></font></fonts>'
        '<fills count="3"><fill><patternFill patternType="none"/></fill><fill><patternFill '
        'patternType="gray125"/></fill><fill><patternFill patternType="solid"><fgColor '
        'rgb="FFDDEBF7"/><bgColor indexed="64"/></patternFill></fill></fills>'
        '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border>'
        '</borders><cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" '
        f'borderId="0"/></cellStyleXfs><cellXfs count="{2 + len(styles)}">{cell_xfs}'
        '</cellXfs><cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/>'
        "</cellStyles></styleSheet>")
    parts: dict[str, str | bytes] = {
        "[Content_Types].xml": (
            f'{_HEAD}<Types xmlns="http://schemas.openxmlformats.org/package/2006/'
            'content-types"><Default Extension="rels" ContentType="application/'
            'vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" '
            'ContentType="application/xml"/><Override PartName="/xl/workbook.xml" '
            f'ContentType="{_TYPE}.sheet.main+xml"/><Override PartName="/xl/worksheets/'
            f'sheet1.xml" ContentType="{_TYPE}.worksheet+xml"/><Override PartName="/xl/'
            f'styles.xml" ContentType="{_TYPE}.styles+xml"/><Override PartName="/xl/tables/'
            f'table1.xml" ContentType="{_TYPE}.table+xml"/></Types>'),
        "_rels/.rels": (
            f'{_HEAD}<Relationships xmlns="{_PACKAGE_RELS}"><Relationship Id="rId1" '
            f'Type="{_RELS}/officeDocument" Target="xl/workbook.xml"/></Relationships>'),
        "xl/workbook.xml": (
            f'{_HEAD}<workbook xmlns="{_MAIN}" xmlns:r="{_RELS}"><bookViews><workbookView/>'
            f'</bookViews><sheets><sheet name="{_xml(sheet)}" sheetId="1" r:id="rId1"/>'
            "</sheets></workbook>"),
        "xl/_rels/workbook.xml.rels": (
            f'{_HEAD}<Relationships xmlns="{_PACKAGE_RELS}"><Relationship Id="rId1" '
            f'Type="{_RELS}/worksheet" Target="worksheets/sheet1.xml"/><Relationship '
            f'Id="rId2" Type="{_RELS}/styles" Target="styles.xml"/></Relationships>'),
        "xl/styles.xml": stylesheet,
        "xl/worksheets/sheet1.xml": worksheet,
        "xl/worksheets/_rels/sheet1.xml.rels": (
            f'{_HEAD}<Relationships xmlns="{_PACKAGE_RELS}"><Relationship Id="rId1" '
            f'Type="{_RELS}/table" Target="../tables/table1.xml"/></Relationships>'),
        "xl/tables/table1.xml": table,
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as package:
        for name, text in parts.items():
            # A fixed time: the same rows give the same bytes.
            package.writestr(zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0)), text,
                             compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()
