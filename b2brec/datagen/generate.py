"""``generate``: build the world, stream its sales into a target, report what was written."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

import psycopg
import pymysql
import sqlalchemy as sa

from b2brec.datagen.config import GenerationSummary, GeneratorConfig
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
    world = build_world(cfg)
    writer = open_writer(parsed, cfg.chunk_size)
    first, last, done = None, None, 0
    try:
        with database_errors(parsed):
            writer.prepare(replace)
            writer.write("customers", customers_table(world))
            writer.write("products", products_table(world))
            cust_ids, prod_ids = customer_ids(cfg.n_customers), product_ids(cfg.n_products)
            for chunk in iter_sales_chunks(world):
                writer.write("sales", sales_table(chunk, cust_ids, prod_ids))
                low, high = int(chunk.sold_at.min()), int(chunk.sold_at.max())
                first = low if first is None else min(first, low)
                last = high if last is None else max(last, high)
                done += len(chunk)
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
