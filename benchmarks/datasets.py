"""The three quality benchmark data sets as transaction frames (read in place, never copied).

Every loader returns ``Dataset(frame, cutoff, test_days)``: ``frame`` has the platform's columns
(customer_id, product_id, timestamp as epoch seconds, revenue, and whichever of art_name, category,
subcategory, city the data has); the model trains on rows before ``cutoff`` and is scored on the
``test_days`` days from it.
"""

from __future__ import annotations

import sqlite3
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

GENRES = (
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
)


@dataclass(frozen=True)
class Dataset:
    name: str
    frame: pd.DataFrame
    cutoff: datetime
    test_days: int
    note: str = ""


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(["timestamp", "customer_id", "product_id"], kind="stable").reset_index(drop=True)


def movielens(folder: Path) -> Dataset:
    """user -> customer, movie -> product, rating -> revenue, title -> art_name, first genre ->
    category, second (or first) -> subcategory, first two zip digits -> city. Cutoff at the 80th
    percentile of rating times; the test period runs to the end of the data."""
    if not (folder / "u.data").exists():
        raise SystemExit(f"{folder}/u.data not found; pass --movielens PATH to the movielens-100k folder")
    ratings = pd.read_csv(folder / "u.data", sep="\t", names=["user", "item", "rating", "timestamp"])
    items = pd.read_csv(folder / "u.item", sep="|", encoding="latin-1", header=None)
    users = pd.read_csv(folder / "u.user", sep="|", names=["user", "age", "gender", "occupation", "zip"])
    genres = items.iloc[:, 5:24].to_numpy()
    names = [[GENRES[j] for j in range(19) if row[j]] or ["unknown"] for row in genres]
    meta = pd.DataFrame(
        {
            "item": items[0],
            "art_name": items[1].astype(str),
            "category": [n[0] for n in names],
            "subcategory": [n[1] if len(n) > 1 else n[0] for n in names],
        }
    )
    users["city"] = users["zip"].astype(str).str[:2]
    frame = ratings.merge(meta, on="item").merge(users[["user", "city"]], on="user")
    frame = pd.DataFrame(
        {
            "customer_id": "u" + frame["user"].astype(str),
            "product_id": "m" + frame["item"].astype(str),
            "revenue": frame["rating"].astype(float),
            "timestamp": frame["timestamp"].astype("int64"),
            "art_name": frame["art_name"],
            "category": frame["category"],
            "subcategory": frame["subcategory"],
            "city": frame["city"],
        }
    )
    frame = _sorted(frame)
    cutoff = datetime.fromtimestamp(int(frame["timestamp"].quantile(0.8)), UTC)
    last = datetime.fromtimestamp(int(frame["timestamp"].max()), UTC)
    return Dataset("MovieLens 100K", frame, cutoff, (last - cutoff).days + 1, "people do not re-rate a movie")


def completejourney(folder: Path, test_days: int = 30) -> Dataset:
    """household -> customer, product -> product, sales_value -> revenue, department -> category,
    product_category -> subcategory (products.parquet). Test: the last ``test_days`` days."""
    path = folder / "transactions_sample.parquet"
    if not path.exists():
        raise SystemExit(f"{path} not found; pass --completejourney PATH to the completejourney-sample folder")
    lines = pd.read_parquet(path, columns=["household_id", "product_id", "sales_value", "transaction_timestamp"])
    products = pd.read_parquet(folder / "products.parquet", columns=["product_id", "department", "product_category"])
    lines = lines.merge(products, on="product_id", how="left")
    frame = pd.DataFrame(
        {
            "customer_id": "h" + lines["household_id"].astype(str),
            "product_id": lines["product_id"].astype(str),
            "revenue": lines["sales_value"].astype(float),
            "timestamp": (lines["transaction_timestamp"].astype("datetime64[s]").astype("int64")),
            "category": lines["department"].fillna("").astype(str),
            "subcategory": lines["product_category"].fillna("").astype(str),
        }
    )
    frame = _sorted(frame)
    last = datetime.fromtimestamp(int(frame["timestamp"].max()), UTC)
    cutoff = datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1) - timedelta(days=test_days)
    return Dataset("Complete Journey sample", frame, cutoff, test_days, "75k random lines of a retail chain")


def synthetic(
    transactions: int,
    seed: int,
    *,
    days: int = 365,
    test_days: int = 30,
    mode: str = "demo",
    source: Path | None = None,
) -> Dataset:
    """The project's generator (b2brec.datagen). ``mode="realistic"``: invoice lines calibrated to a
    real wholesaler, cleaned as ``environments/realistic-dev.yaml`` maps them (no guest lines, no
    cancellations, returns netted, non-product lines excluded, revenue = quantity x unit price).
    ``source``: read an already generated SQLite file instead of generating."""
    with tempfile.TemporaryDirectory() as tmp:
        path = source or Path(tmp) / "erp.sqlite"
        if source is None:
            from b2brec.datagen import GeneratorConfig, generate

            kwargs: dict[str, object] = {"transactions": transactions, "seed": seed, "days": days}
            if mode != "demo":
                kwargs["mode"] = mode
            generate(GeneratorConfig(**kwargs), f"sqlite:///{path}")  # type: ignore[arg-type]
        with sqlite3.connect(path) as conn:
            columns = {row[1] for row in conn.execute("PRAGMA table_info(sales)")}
            realistic = "invoice_no" in columns
            frame = _realistic(conn) if realistic else _demo(conn)
    frame = _sorted(frame)
    last = datetime.fromtimestamp(int(frame["timestamp"].max()), UTC)
    cutoff = datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1) - timedelta(days=test_days)
    label = "Synthetic wholesale (realistic)" if realistic else "Synthetic wholesale (demo generator)"
    return Dataset(label, frame, cutoff, test_days, f"{transactions:,} generated lines, seed {seed}")


def _demo(conn: sqlite3.Connection) -> pd.DataFrame:
    sales = pd.read_sql("SELECT customer_id, sku, amount, sold_at FROM sales", conn)
    products = pd.read_sql("SELECT sku, product_name, category, subcategory FROM products", conn)
    customers = pd.read_sql("SELECT customer_id, city FROM customers", conn)
    lines = sales.merge(products, on="sku", how="left").merge(customers, on="customer_id", how="left")
    return pd.DataFrame(
        {
            "customer_id": lines["customer_id"].astype(str),
            "product_id": lines["sku"].astype(str),
            "revenue": lines["amount"].astype(float),
            "timestamp": pd.to_datetime(lines["sold_at"]).astype("datetime64[s]").astype("int64"),
            "art_name": lines["product_name"].fillna("").astype(str),
            "category": lines["category"].fillna("").astype(str),
            "subcategory": lines["subcategory"].fillna("").astype(str),
            "city": lines["city"].fillna("").astype(str),
        }
    )


def _realistic(conn: sqlite3.Connection) -> pd.DataFrame:
    """Invoice lines -> sales, by the realistic-dev mapping's rules."""
    sales = pd.read_sql(
        "SELECT invoice_no, stock_code, quantity, unit_price, customer_id, invoiced_at FROM sales "
        "WHERE customer_id IS NOT NULL AND invoice_no NOT LIKE 'C%'",
        conn,
    )
    products = pd.read_sql("SELECT stock_code, description, category, subcategory FROM products", conn)
    customers = pd.read_sql("SELECT customer_id, city FROM customers", conn)
    lines = sales.merge(products, on="stock_code", how="left").merge(customers, on="customer_id", how="left")
    lines = lines[lines["category"] != "Non-product"]
    lines["customer_id"] = lines["customer_id"].astype("int64").astype(str)
    # returns (negative quantity) are netted against the customer's purchases of that product:
    # a pair whose net quantity is not positive is dropped
    net = lines.groupby(["customer_id", "stock_code"])["quantity"].transform("sum")
    lines = lines[(lines["quantity"] > 0) & (net > 0)]
    return pd.DataFrame(
        {
            "customer_id": lines["customer_id"],
            "product_id": lines["stock_code"].astype(str),
            "revenue": (lines["quantity"] * lines["unit_price"]).astype(float),
            "timestamp": pd.to_datetime(lines["invoiced_at"]).astype("datetime64[s]").astype("int64"),
            "art_name": lines["description"].fillna("").astype(str),
            "category": lines["category"].fillna("").astype(str),
            "subcategory": lines["subcategory"].fillna("").astype(str),
            "city": lines["city"].fillna("").astype(str),
        }
    )


FEATURES: tuple[str, ...] = (
    "customer_id",
    "product_id",
    "revenue",
    "timestamp",
    "art_name",
    "category",
    "subcategory",
    "city",
)
