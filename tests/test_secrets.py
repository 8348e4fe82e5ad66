"""Masking of passwords in URLs and messages (optloop.secrets), and where it is applied."""

from __future__ import annotations

import pytest

from optloop.config import config_from_dict
from optloop.exceptions import ConfigError
from optloop.secrets import mask_text, mask_url
from optloop.store.engine import parse
from optloop.tracking.connection import display_uri

PW = "pl4nted-Secret-9f3a"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"postgresql://alice:{PW}@db.lab:5432/optloop", "postgresql://alice:***@db.lab:5432/optloop"),
        (f"postgresql+psycopg://alice:{PW}@db/c", "postgresql+psycopg://alice:***@db/c"),
        (f"https://alice:{PW}@mlflow.lab", "https://alice:***@mlflow.lab"),
        ("sqlite:///runs/quick/campaign.db", "sqlite:///runs/quick/campaign.db"),
        ("postgresql://alice@db/c", "postgresql://alice@db/c"),
        (f"postgresql://alice@db/c?password={PW}", "postgresql://alice@db/c?password=***"),
        ("not a url", "not a url"),
    ],
)
def test_mask_url(url: str, shown: str) -> None:
    assert mask_url(url) == shown
    assert display_uri(url) == shown


def test_mask_url_with_odd_passwords() -> None:
    # Percent-encoded and raw '@' in the password, an unparsable port: never shown.
    for url in (f"postgresql://u:{PW}%40x@h/db", f"postgresql://u:{PW}@x@h/db",
                f"postgresql://u:{PW}@h:notaport/db"):
        assert PW not in mask_url(url), url


def test_mask_text_in_messages() -> None:
    msg = (f"could not open 'postgresql://u:{PW}@h/db' (host=h password={PW} dbname=x); "
           f"see http://a:{PW}@b/c")
    out = mask_text(msg)
    assert PW not in out
    assert out.count("***") == 3 and "postgresql://u:***@h/db" in out


def test_config_error_does_not_echo_the_password() -> None:
    data = {"name": "x", "store": {"url": f"postgresql://u:{PW}@h/db"}}
    with pytest.raises(ConfigError) as err:
        config_from_dict(data)
    assert "store.url" in str(err.value) and "password" in str(err.value)
    assert PW not in str(err.value)


def test_plain_postgresql_url_uses_psycopg3() -> None:
    assert parse("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert parse("postgresql+psycopg2://u@h/db").drivername == "postgresql+psycopg2"
    assert parse("sqlite:///x.db").drivername == "sqlite"
