"""One feature contract (b2brec/features.py) and one set of pipeline defaults, read by every stage."""

from __future__ import annotations

import dataclasses

from b2brec.features import (
    CANDIDATE_FEATURES,
    FEATURE_CONTRACT,
    FEATURES,
    ID_FEATURES,
    OPTIONAL_FEATURES,
    PLATFORM_TABLES,
    QUERY_FEATURES,
    REQUIRED_FEATURES,
    STRING_FEATURES,
    derived_revenue_sql,
)
from b2brec.spec import PipelineDefaults
from modules.bigquery import RAW_TABLES
from trainer import data, vocab
from trainer.extractor import source, transforms
from trainer.extractor.run import parse_args
from trainer.pipeline import RunOptions

FEATURE_TYPES = {"string": "string", "float": "float", "timestamp": "timestamp"}


def test_the_eight_features_and_which_are_required() -> None:
    assert FEATURES == (
        "customer_id",
        "product_id",
        "revenue",
        "city",
        "timestamp",
        "art_name",
        "category",
        "subcategory",
    )
    assert set(REQUIRED_FEATURES) == {"customer_id", "product_id", "timestamp", "revenue"}
    assert set(OPTIONAL_FEATURES) == set(FEATURES) - set(REQUIRED_FEATURES)
    assert set(QUERY_FEATURES) | set(CANDIDATE_FEATURES) == set(FEATURES)
    assert not set(QUERY_FEATURES) & set(CANDIDATE_FEATURES)


def test_every_feature_reads_a_warehouse_column_of_its_type() -> None:
    for feature in FEATURE_CONTRACT:
        column = PLATFORM_TABLES[feature.table].column(feature.column)
        assert FEATURE_TYPES[feature.dtype] == column.type, feature
        # a required feature is required in the warehouse, except revenue (derivable from quantity x price)
        assert column.required == (feature.required and feature.name != "revenue"), feature


def test_the_stages_read_the_contract_not_their_own_lists() -> None:
    assert transforms.OPTIONAL_STRING_FEATURES == OPTIONAL_FEATURES
    assert data.STRING_FEATURES == STRING_FEATURES
    assert vocab.VOCAB_FEATURES == ID_FEATURES
    assert source.OPTIONAL_SOURCES == {
        "city": ("c", "city"),
        "art_name": ("p", "name"),
        "category": ("p", "category"),
        "subcategory": ("p", "subcategory"),
    }


def test_the_revenue_rule_is_written_once() -> None:
    columns = source.SourceColumns(
        transactions=frozenset({"customer_id", "product_id", "timestamp", "quantity"}),
        products=frozenset({"product_id", "price"}),
        customers=frozenset(),
    )
    assert source.revenue_expression(columns) == derived_revenue_sql("t", "p") == "t.quantity * p.price"
    with_revenue = dataclasses.replace(columns, transactions=columns.transactions | {"revenue"})
    assert source.revenue_expression(with_revenue) == "COALESCE(t.revenue, t.quantity * p.price)"


def test_the_terraform_tables_are_the_warehouse_contract() -> None:
    for name, table in PLATFORM_TABLES.items():
        spec = RAW_TABLES[name]
        assert [c.name for c in spec.columns][: len(table.columns)] == list(table.column_names)


def test_pipeline_defaults_live_once() -> None:
    defaults = PipelineDefaults()
    options = RunOptions()
    for name in ("window_days", "test_days", "revenue_coverage", "epochs", "batch_size", "embedding_dim"):
        assert getattr(options, name) == getattr(defaults, name), name
    args, _ = parse_args(["--warehouse", "duckdb:///x", "--output", "file:///y"])
    assert (args.window_days, args.test_days, args.revenue_coverage) == (
        defaults.window_days,
        defaults.test_days,
        defaults.revenue_coverage,
    )
    assert (args.min_customers, args.min_products) == (options.min_customers, options.min_products)


def test_training_and_serving_defaults_come_from_the_pipeline_defaults() -> None:
    import inspect

    from serving.history import history_weights
    from trainer.fit import TrainConfig  # imports TensorFlow
    from trainer.interactions import build_interactions, interactions_from_pairs
    from trainer.model.hybrid import HybridConfig
    from trainer.train import parse_args as train_args

    defaults = PipelineDefaults()
    assert defaults.half_life_days == 90.0 and defaults.epochs == 10
    config = TrainConfig()
    for name in ("epochs", "batch_size", "embedding_dim", "learning_rate"):
        assert getattr(config, name) == getattr(defaults, name), name
    assert RunOptions().half_life_days == HybridConfig().half_life_days == defaults.half_life_days
    args = train_args(["--dataset", "file:///d", "--models", "file:///m", "--version", "v", "--mlflow-uri", "x"])
    assert (args.half_life_days, args.epochs) == (defaults.half_life_days, defaults.epochs)
    for function in (build_interactions, interactions_from_pairs, history_weights):
        assert inspect.signature(function).parameters["half_life_days"].default == defaults.half_life_days
    # a client's spec sets it for its runs
    from b2brec.spec import load_environment
    from tests.conftest import REPO_ROOT

    spec = load_environment(REPO_ROOT / "environments", "demo-dev")
    spec = spec.model_copy(update={"pipeline": defaults.model_copy(update={"half_life_days": 45.0})})
    assert RunOptions.from_spec(spec).half_life_days == 45.0


def test_lists_elsewhere_are_the_contracts() -> None:
    import pyarrow as pa

    from b2brec.bundle import CUSTOMERS_SCHEMA, PRODUCTS_SCHEMA
    from b2brec.features import CUSTOMER_ATTRIBUTES, PRODUCT_ATTRIBUTES, feature
    from trainer.lines import ATTRIBUTES
    from trainer.model.retrieval import CANDIDATE_INPUTS, QUERY_INPUTS  # imports TensorFlow
    from trainer.model.towers import CATEGORICAL_ATTRIBUTES

    assert PRODUCT_ATTRIBUTES == ATTRIBUTES == ("art_name", "category", "subcategory")
    assert CATEGORICAL_ATTRIBUTES == ("category", "subcategory")
    assert CUSTOMER_ATTRIBUTES == ("city",)
    # the bundle's tables are named by the warehouse columns; the on-disk format must not move
    assert PRODUCTS_SCHEMA.names == [feature(f).column for f in CANDIDATE_FEATURES]
    assert PRODUCTS_SCHEMA == pa.schema([(n, pa.string()) for n in ("product_id", "name", "category", "subcategory")])
    assert CUSTOMERS_SCHEMA == pa.schema([("customer_id", pa.string()), ("city", pa.string())])
    # the towers' inputs: the contract's features plus what the trainer derives from them
    assert CANDIDATE_INPUTS == (*CANDIDATE_FEATURES, "popularity")
    assert set(QUERY_INPUTS) >= set(QUERY_FEATURES) - {"revenue"}
    assert QUERY_INPUTS == (
        "customer_id",
        "city",
        "timestamp",
        "history",
        "history_weight",
        "recency",
        "frequency",
        "avg_revenue",
    )


def test_the_exported_signatures_are_the_towers_inputs() -> None:
    from trainer.export import _candidate_spec, _query_spec
    from trainer.model.retrieval import CANDIDATE_INPUTS, QUERY_INPUTS

    query = _query_spec(history_length=7)
    assert set(query) == set(QUERY_INPUTS)
    assert list(query) == ["customer_id", "city", "timestamp", "recency", "frequency", "avg_revenue", "history",
                           "history_weight"]  # fmt: skip
    assert {name for name, spec in query.items() if spec.dtype.name == "string"} == {"customer_id", "city", "history"}
    assert query["history"].shape.as_list() == [None, 7]
    assert list(_candidate_spec()) == list(CANDIDATE_INPUTS)
