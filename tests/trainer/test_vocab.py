"""Vocabulary edge cases: empty data, unseen values, unicode names, constant columns."""

from __future__ import annotations

import pandas as pd
import pytest

from trainer.errors import DataError
from trainer.vocab import build_vocabularies, ordered_values, quantile_boundaries, tokenize

FEATURES = ["customer_id", "product_id", "revenue", "timestamp", "art_name", "city"]


def frame(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["customer_id", "product_id", "revenue", "timestamp", "art_name", "city"])


def test_empty_training_split_stops_with_a_clear_message() -> None:
    with pytest.raises(DataError, match="training split is empty"):
        build_vocabularies(frame([]), FEATURES)


def test_unicode_names_are_tokenized_into_words() -> None:
    assert tokenize("Crème Brûlée 500g — Ürün/Şişe") == ["crème", "brûlée", "500g", "ürün", "şişe"]
    assert tokenize("  ") == []


def test_values_are_ordered_by_frequency_then_value_and_empty_is_dropped() -> None:
    assert ordered_values(["b", "a", "b", "", "c", "a", "b"]) == ["b", "a", "c"]


def test_vocabularies_from_a_small_frame() -> None:
    train = frame(
        [
            ("c1", "p1", 10.0, 100, "Café noir", "Köln"),
            ("c1", "p2", 20.0, 200, "Thé vert", "Köln"),
            ("c2", "p1", 30.0, 300, "Café noir", ""),
        ]
    )
    vocab = build_vocabularies(train, FEATURES, revenue_buckets=2, time_buckets=2)
    assert vocab["vocabularies"]["product_id"] == ["p1", "p2"]
    assert vocab["vocabularies"]["city"] == ["Köln"]  # "" (unknown city) is not a value
    assert vocab["vocabularies"]["art_name_tokens"] == ["café", "noir", "thé", "vert"]
    assert vocab["timestamp_boundaries"] == [200.0]  # 2 buckets over 100..300
    assert "category" not in vocab["vocabularies"]  # a missing feature is left out, not filled
    assert len(vocab["hash"]) == 16


def test_constant_revenue_gives_no_boundaries_and_one_bucket() -> None:
    assert quantile_boundaries(pd.Series([5.0, 5.0, 5.0]).to_numpy(), 10) == []


def test_unseen_values_map_to_the_oov_bucket_in_the_towers() -> None:
    from trainer.model.towers import _string_lookup

    lookup = _string_lookup(["p1", "p2"], mask=True)
    # index 0 = mask "", 1 = out of vocabulary, 2.. = the vocabulary
    assert lookup(["", "unseen", "p1", "p2"]).numpy().tolist() == [0, 1, 2, 3]
