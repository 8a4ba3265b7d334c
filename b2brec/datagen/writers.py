"""Bulk writers for generated tables: one per kind of target, same small interface.

PostgreSQL gets ``COPY ... FROM STDIN`` through psycopg's raw connection; SQLite and
MySQL/MariaDB get DB-API ``executemany`` per chunk, one transaction per chunk; folders get
streamed CSV or Parquet files.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Protocol, cast

import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import sqlalchemy as sa

from b2brec.datagen.config import DatagenError
from b2brec.datagen.schema import TABLES, build_metadata, updated_at_index
from b2brec.datagen.targets import FileTarget, SqlTarget


class TableWriter(Protocol):
    def prepare(self, replace: bool) -> None: ...

    def write(self, name: str, table: pa.Table) -> None: ...

    def finish(self) -> None: ...

    def close(self) -> None: ...


def open_writer(target: FileTarget | SqlTarget, chunk_size: int, mode: str = "demo") -> TableWriter:
    if isinstance(target, FileTarget):
        return FileWriter(target)
    return SqlWriter(target, chunk_size, mode)


class SqlWriter:
    def __init__(self, target: SqlTarget, chunk_size: int, mode: str = "demo") -> None:
        self.target = target
        self.engine = target.engine()
        self.dialect = self.engine.dialect
        self.md = build_metadata(target.dialect, mode)
        self.chunk_size = chunk_size

    def prepare(self, replace: bool) -> None:
        existing = sorted(set(sa.inspect(self.engine).get_table_names()) & set(TABLES))
        if existing and not replace:
            raise DatagenError(
                f"tables {', '.join(existing)} already exist in {self.target.safe}; "
                "drop --no-replace (replace=False) to overwrite them, or choose another database"
            )
        with self.engine.begin() as conn:
            self.md.drop_all(conn, checkfirst=True)
            self.md.create_all(conn)

    def write(self, name: str, table: pa.Table) -> None:
        for batch in table.to_batches(max_chunksize=self.chunk_size):
            with self.engine.begin() as conn:
                if self.target.dialect == "postgresql":
                    _copy_postgres(conn, name, pa.Table.from_batches([batch]))
                else:
                    self._executemany(conn, name, batch)

    def _executemany(self, conn: sa.Connection, name: str, batch: pa.RecordBatch) -> None:
        table = self.md.tables[name]
        columns = []
        for col_name, values in zip(batch.schema.names, batch.columns, strict=True):
            col = table.c[col_name]
            proc = col.type.dialect_impl(self.dialect).bind_processor(self.dialect)
            pylist = values.to_pylist()
            columns.append([proc(v) for v in pylist] if proc else pylist)
        rows = list(zip(*columns, strict=True))
        marks = {"qmark": "?", "format": "%s", "pyformat": "%s"}.get(self.dialect.paramstyle)
        if marks is None:  # a driver with named parameters: let SQLAlchemy build the statement
            conn.execute(table.insert(), [dict(zip(batch.schema.names, r, strict=True)) for r in rows])
            return
        prep = self.dialect.identifier_preparer
        cols = ", ".join(prep.quote(c) for c in batch.schema.names)
        sql = f"INSERT INTO {prep.quote(name)} ({cols}) VALUES ({', '.join([marks] * len(batch.schema.names))})"
        conn.exec_driver_sql(sql, rows)

    def finish(self) -> None:
        with self.engine.begin() as conn:
            updated_at_index(self.md).create(conn)
            if self.target.dialect == "postgresql":
                conn.exec_driver_sql("ANALYZE customers, products, sales")

    def close(self) -> None:
        self.engine.dispose()


def _copy_postgres(conn: sa.Connection, name: str, table: pa.Table) -> None:
    buf = io.BytesIO()
    pacsv.write_csv(table, buf, write_options=pacsv.WriteOptions(include_header=False))
    cols = ", ".join(f'"{c}"' for c in table.schema.names)
    # a PostgreSQL target always runs on psycopg 3 (targets.py normalises the URL); the pool's connection is live here
    raw = cast(psycopg.Connection[Any], conn.connection.dbapi_connection)
    with raw.cursor() as cur, cur.copy(f'COPY "{name}" ({cols}) FROM STDIN (FORMAT csv)') as copy:
        copy.write(buf.getbuffer())


class FileWriter:
    """``customers``, ``products`` and ``sales`` files in one folder, written as they stream."""

    def __init__(self, target: FileTarget) -> None:
        self.target = target
        self.writers: dict[str, pacsv.CSVWriter | pq.ParquetWriter] = {}

    def path(self, name: str) -> Path:
        return self.target.folder / f"{name}.{self.target.file_format}"

    def prepare(self, replace: bool) -> None:
        existing = [p.name for p in map(self.path, TABLES) if p.exists()]
        if existing and not replace:
            raise DatagenError(
                f"files {', '.join(existing)} already exist in {self.target.folder}; "
                "drop --no-replace (replace=False) to overwrite them"
            )
        try:
            self.target.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DatagenError(f"cannot create folder {self.target.folder}: {exc.strerror}") from None

    def write(self, name: str, table: pa.Table) -> None:
        try:
            writer = self.writers.get(name)
            if writer is None:
                if self.target.file_format == "csv":
                    writer = pacsv.CSVWriter(str(self.path(name)), table.schema)
                else:
                    writer = pq.ParquetWriter(str(self.path(name)), table.schema, compression="zstd")
                self.writers[name] = writer
            writer.write_table(table)
        except OSError as exc:  # full disk, no permission: say which file
            raise DatagenError(f"cannot write {self.path(name)}: {exc}") from None

    def finish(self) -> None:
        self.close()

    def close(self) -> None:
        for writer in self.writers.values():
            writer.close()
        self.writers.clear()
