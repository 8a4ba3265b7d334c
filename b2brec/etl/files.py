"""CSV and Parquet file sources, read as Arrow batches with pyarrow and loaded by dlt.

``sources.X.path`` is a folder (confined to the client's upload area by ``sources.py``);
``mapping.T.table`` names a file in it (``sales.csv``), a file stem (``sales`` -> ``sales.csv`` /
``sales.parquet``) or a sub-folder of part files. Every file is confined to that folder again
(links resolved) right before it is opened. A file that cannot be parsed is reported as
``bad_file`` naming the file and the kind of problem, never quoting its contents (pyarrow's own
messages quote the offending row).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from b2brec.etl.errors import BAD_FILE, MISSING_COLUMN, MISSING_FILE, PATH_REFUSED, WRONG_COLUMN_TYPE, EtlError
from b2brec.etl.mapping import ARROW_TYPES, derives_revenue, platform_table
from b2brec.security.paths import PathRefused, confine, open_confined
from b2brec.spec import SourceKind, TableMapping, expressions

BATCH_BYTES = 16 << 20

# Fixed phrases of pyarrow's parse errors that are safe to repeat (they quote no data).
_SAFE_PROBLEMS = (
    re.compile(r"Expected \d+ columns?, got \d+"),
    re.compile(r"invalid UTF-?8", re.IGNORECASE),
    re.compile(r"Empty CSV file"),
    re.compile(r"(Parquet magic bytes not found|Parquet file size is 0 bytes)"),
    re.compile(r"straddling object straddles two block boundaries"),
)


def bad_file(path: Path, kind: SourceKind, exc: BaseException) -> EtlError:
    """A ``bad_file`` error for ``path``: its name and a fixed description, never its contents."""
    text = str(exc)
    problem = next((m.group(0) for pattern in _SAFE_PROBLEMS if (m := pattern.search(text))), None)
    row = re.search(r"Row #(\d+)", text)
    where = f" at row {row.group(1)}" if row else ""
    what = f": {problem}{where}" if problem else where
    return EtlError(
        f"{path.name} is not a readable {kind.value.upper()} file{what}.",
        code=BAD_FILE,
        fix=f"export {path.name} again as a valid {kind.value.upper()} file (UTF-8, one header row, the same "
        "number of fields on every line).",
    )


def _confined(path: Path, folder: Path) -> Path:
    try:
        return confine(path, folder)
    except PathRefused:
        raise EtlError(
            f"{path.name} is a link leading outside the source's folder.",
            code=PATH_REFUSED,
            fix="copy the file itself into the upload area instead of linking to it.",
        ) from None


def resolve_files(folder: Path, kind: SourceKind, table_name: str, mapping: TableMapping) -> list[Path]:
    """The files holding ``mapping.table``; raises ``missing_file`` with what was looked for."""
    ext = "csv" if kind is SourceKind.CSV else "parquet"
    if not folder.is_dir():
        raise EtlError(
            f"the folder of the file source does not exist in the client's upload area: {folder.name}.",
            code=MISSING_FILE,
            fix="correct the source's path in the client spec, or copy the exported files there.",
        )
    base = _confined(folder / mapping.table, folder)
    if base.is_file():
        return [base]
    if base.is_dir():
        parts = sorted(_confined(p, folder) for p in base.glob(f"*.{ext}"))
        if parts:
            return parts
    with_ext = _confined(folder / f"{mapping.table}.{ext}", folder)
    if with_ext.is_file():
        return [with_ext]
    found = ", ".join(sorted(p.name for p in folder.iterdir())[:15]) or "nothing"
    raise EtlError(
        f"no {ext.upper()} file '{mapping.table}' (for {table_name}) in the source's folder {folder.name}.",
        code=MISSING_FILE,
        fix=f"correct mapping.{table_name}.table; the folder holds: {found}.",
    )


def _open(path: Path) -> BinaryIO:
    """The file, opened only if it is still the regular, singly linked file that was confined (a hard
    link from outside the upload area, or a file or link swapped in since the check, is refused)."""
    try:
        return open_confined(path, path.parent, checked=True)
    except PathRefused as exc:
        raise EtlError(str(exc), code=PATH_REFUSED, fix=exc.fix or "") from None


def _batches(path: Path, kind: SourceKind, columns: list[str]) -> Iterator[pa.RecordBatch]:
    try:
        with _open(path) as handle:
            if kind is SourceKind.CSV:
                reader = pacsv.open_csv(
                    handle,
                    read_options=pacsv.ReadOptions(block_size=BATCH_BYTES),
                    convert_options=pacsv.ConvertOptions(include_columns=columns),
                )
                yield from reader
            else:
                yield from pq.ParquetFile(handle).iter_batches(columns=columns, batch_size=65_536)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, OSError) as exc:
        raise bad_file(path, kind, exc) from None


def file_columns(path: Path, kind: SourceKind) -> list[str]:
    try:
        with _open(path) as handle:
            if kind is SourceKind.CSV:
                read = pacsv.ReadOptions(block_size=BATCH_BYTES)
                return list(pacsv.open_csv(handle, read_options=read).schema.names)
            return list(pq.read_schema(handle).names)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, OSError) as exc:
        raise bad_file(path, kind, exc) from None


def _missing_column(
    path: Path, name: str, where: str, fix_field: str, present: list[str], wanted: list[str]
) -> EtlError:
    """The error for a mapped column the file lacks: the column count and the names the mapping
    expects, never the file's header itself (a file's first line is its content: audit 10, B3)."""
    return EtlError(
        f"column '{name}' ({where}) is not in {path.name}, whose header row has {len(present)} "
        f"column{'s' if len(present) != 1 else ''}.",
        code=MISSING_COLUMN,
        fix=f"correct {fix_field}, or export {path.name} with a header row naming the columns the mapping reads: "
        f"{', '.join(wanted)}.",
    )


def check_columns(path: Path, kind: SourceKind, table_name: str, mapping: TableMapping) -> None:
    """Raise ``missing_column`` / ``wrong_column_type`` for the mapped columns of one file."""
    present = file_columns(path, kind)
    wanted = source_columns(mapping)
    for platform_column, client_column in mapping.columns.items():
        if client_column not in present:
            where = f"mapped to {table_name}.{platform_column}"
            field = f"mapping.{table_name}.columns.{platform_column}"
            raise _missing_column(path, client_column, where, field, present, wanted)
    for platform_column, text in mapping.derived.items():
        for name in expressions.columns(expressions.parse(text)):
            if name not in present:
                where = f"used in {table_name}.{platform_column} = {text}"
                field = f"mapping.{table_name}.derived.{platform_column}"
                raise _missing_column(path, name, where, field, present, wanted)
    for batch in _batches(path, kind, source_columns(mapping)):
        convert(pa.Table.from_batches([batch]), table_name, mapping)
        break


def source_columns(mapping: TableMapping) -> list[str]:
    """Client columns read from a file: mapped ones and those derived expressions use."""
    used = list(mapping.columns.values())
    for text in mapping.derived.values():
        used += expressions.columns(expressions.parse(text))
    return list(dict.fromkeys(used))


def derived_array(text: str, table: pa.Table, where: str) -> pa.Array:
    """A derived expression computed with Arrow over a batch (columns read as float64; x / 0 is null)."""

    def build(expr: expressions.Expr) -> Any:
        if isinstance(expr, expressions.Column):
            try:
                return pc.cast(table.column(expr.name), pa.float64())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                raise EtlError(
                    f"column '{expr.name}' (used in {where} = {text}) holds values that are not numbers.",
                    code=WRONG_COLUMN_TYPE,
                    fix="derive from numeric columns, or fix the values in the exported file.",
                ) from None
        if isinstance(expr, expressions.Number):
            return pa.scalar(expr.value, pa.float64())
        left, right = build(expr.left), build(expr.right)
        if expr.op == "/":
            right = pc.if_else(pc.equal(right, 0.0), pa.scalar(None, pa.float64()), right)
        return {"+": pc.add, "-": pc.subtract, "*": pc.multiply, "/": pc.divide}[expr.op](left, right)

    result = build(expressions.parse(text))
    if isinstance(result, pa.Scalar):
        return pa.array([result.as_py()] * table.num_rows, pa.float64())
    return result


def convert(table: pa.Table, table_name: str, mapping: TableMapping) -> pa.Table:
    """Select, rename to platform names and cast to platform types."""
    platform = platform_table(table_name)
    arrays: dict[str, pa.Array] = {}
    for platform_column, client_column in mapping.columns.items():
        target = ARROW_TYPES[platform.column(platform_column).type]
        array = table.column(client_column)
        try:
            arrays[platform_column] = pc.cast(array, target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            raise EtlError(
                f"column '{client_column}' (mapped to {table_name}.{platform_column}) holds {array.type} values "
                f"that cannot be read as {target}.",
                code=WRONG_COLUMN_TYPE,
                fix="map a column of the right kind, or fix the values in the exported file.",
            ) from None
    for platform_column, text in mapping.derived.items():
        arrays[platform_column] = derived_array(text, table, f"{table_name}.{platform_column}")
    if derives_revenue(table_name, mapping):
        arrays["revenue"] = pa.nulls(table.num_rows, pa.float64())
    return pa.table(arrays)


def read_file_table(files: list[Path], kind: SourceKind, table_name: str, mapping: TableMapping) -> Iterator[pa.Table]:
    """Arrow tables in platform shape, one per batch, for a dlt resource to yield."""
    for path in files:
        for batch in _batches(path, kind, source_columns(mapping)):
            yield convert(pa.Table.from_batches([batch]), table_name, mapping)
