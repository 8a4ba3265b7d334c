"""``generate``: build the world, stream its sales into a target, report what was written."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

import numpy as np
import psycopg
import pyarrow as pa
import pymysql
import sqlalchemy as sa

from b2brec.datagen.config import GenerationSummary, GeneratorConfig
from b2brec.datagen.realistic import build_realistic_world, iter_invoice_chunks
from b2brec.datagen.realistic_tables import realistic_customers_table, realistic_products_table, realistic_sales_table
from b2brec.datagen.sales import iter_sales_chunks
from b2brec.datagen.schema import customer_ids, customers_table, product_ids, products_table, sales_table
from b2brec.datagen.targets import FileTarget, SqlTarget, describe_db_error, parse_target
from b2brec.datagen.world import build_world
from b2brec.datagen.writers import open_writer

Progress = Callable[[int, int], None]


DRIVER_ERRORS: tuple[type[Exception], ...] = (sa.exc.SQLAlchemyError, psycopg.Error, pymysql.Error)


@contextmanager
def database_errors(target: FileTarget | SqlTarget) -> Iterator[None]:
    """Turn driver errors into a ``DatagenError`` with a password-free message."""
    try:
        yield
    except DRIVER_ERRORS as exc:
        if isinstance(target, SqlTarget):
            raise describe_db_error(target, exc) from None
        raise


def to_datetime(epoch: int) -> datetime:
    """Epoch seconds -> naive UTC datetime (the ERP stores naive timestamps)."""
    return datetime(1970, 1, 1) + timedelta(seconds=int(epoch))


Tables = Iterator[tuple[str, pa.Table, np.ndarray | None]]


def _tables(cfg: GeneratorConfig) -> Tables:
    """(table name, rows, sale times of sales rows) in write order, for either mode."""
    if cfg.mode == "realistic":
        yield from _realistic_tables(cfg)
        return
    world = build_world(cfg)
    yield "customers", customers_table(world), None
    yield "products", products_table(world), None
    cust_ids, prod_ids = customer_ids(cfg.n_customers), product_ids(cfg.n_products)
    for chunk in iter_sales_chunks(world):
        yield "sales", sales_table(chunk, cust_ids, prod_ids), chunk.sold_at


def _realistic_tables(cfg: GeneratorConfig) -> Tables:
    rw = build_realistic_world(cfg)
    yield "customers", realistic_customers_table(rw), None
    yield "products", realistic_products_table(rw), None
    codes = pa.array(rw.product_codes, pa.string())
    for chunk in iter_invoice_chunks(rw):
        yield "sales", realistic_sales_table(chunk, codes), chunk.sold_at


def generate(
    cfg: GeneratorConfig,
    target: str,
    *,
    progress: Progress | None = None,
    replace: bool = True,
    file_format: str | None = None,
) -> GenerationSummary:
    """Write customers, products and ``cfg.transactions`` sales lines to ``target``.

    ``target`` is a SQLAlchemy URL (sqlite, postgresql, mysql/mariadb) or ``file:///folder``
    (then ``file_format`` is ``csv`` or ``parquet``). Existing tables are dropped and recreated
    unless ``replace=False``, which refuses to touch them.
    """
    parsed = parse_target(target, file_format)
    started = time.perf_counter()
    writer = open_writer(parsed, cfg.chunk_size, cfg.mode)
    first, last, done = None, None, 0
    try:
        with database_errors(parsed):
            writer.prepare(replace)
            for name, table, sold_at in _tables(cfg):
                writer.write(name, table)
                if sold_at is None or not len(sold_at):
                    continue
                low, high = int(sold_at.min()), int(sold_at.max())
                first = low if first is None else min(first, low)
                last = high if last is None else max(last, high)
                done += len(sold_at)
                if progress is not None:
                    progress(done, cfg.transactions)
            writer.finish()
    finally:
        writer.close()
    return GenerationSummary(
        customers=cfg.n_customers,
        products=cfg.n_products,
        transactions=done,
        first_sale=to_datetime(first or 0),
        last_sale=to_datetime(last or 0),
        seconds=time.perf_counter() - started,
        target=parsed.safe,
    )
