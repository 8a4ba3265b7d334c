"""Issue 10, case 7: passwords are masked by structure, never by replacing substrings.

With the old substring replacement a password that is also a common word leaked: the password
``postgres`` turned ``postgresql://postgres@db`` into ``***ql://***@db``, which spells it out.
"""

from __future__ import annotations

import pytest

from b2brec.etl.errors import scrub
from b2brec.security.masking import WITHHELD, mask_secrets


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        (
            "postgresql+psycopg://etl:Sup3r:s3cret@db.example.com:5432/erp",
            "postgresql+psycopg://etl:***@db.example.com:5432/erp",
        ),
        ("mysql://u:p@ss@w0rd@h/db failed", "mysql://u:***@h/db failed"),
        ("host=db user=etl password='a b c' dbname=erp", "host=db user=etl password=*** dbname=erp"),
        ("Server=db;Uid=sa;Pwd=xyz123;Database=erp", "Server=db;Uid=sa;Pwd=***;Database=erp"),
        ("https://db.example.com/x (no credentials here)", "https://db.example.com/x (no credentials here)"),
    ],
)
def test_credentials_are_masked_where_they_sit(text: str, masked: str) -> None:
    assert mask_secrets(text) == masked


@pytest.mark.parametrize("password", ["postgres", "sql", "erp", "user", "etl", "zz9"])
def test_a_password_that_is_a_common_word_never_turns_into_an_oracle(password: str) -> None:
    text = 'connection to postgresql://etl@db:5432/erp failed: password authentication failed for user "etl"'
    shown = scrub(text, [password])
    assert "***" not in shown.replace(WITHHELD, "")  # nothing is cut out of words
    assert shown in {text, WITHHELD}
    if password in text:
        assert shown == WITHHELD


def test_url_encoded_forms_of_the_secret_are_caught_too() -> None:
    assert scrub("failed for p%40ss%2Fw", ["p@ss/w"]) == WITHHELD
    assert scrub("nothing secret here", ["p@ss/w"]) == "nothing secret here"
