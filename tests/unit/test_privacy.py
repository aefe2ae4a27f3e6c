"""Masking and pseudonymization by role (analytics.access.privacy)."""

import hashlib
import hmac
from datetime import date

import polars as pl
import pytest

from analytics.access import privacy
from analytics.store.database import Database

KEY = b"test-key"


@pytest.fixture()
def people():
    return pl.DataFrame(
        {
            "customer_id": [101, 102, 101, None],
            "first_name": ["Maria", "Jan", "Maria", None],
            "last_name": ["Jansen", "de Vries", "Jansen", "X"],
            "email": ["maria.jansen@example.org", "jan@bank.test", "maria.jansen@example.org", "z@q.nl"],
            "phone": ["+31 6 1234 5678", "020 555 0199", "+31 6 1234 5678", "0"],
            "birth_date": [date(1984, 3, 9), date(1990, 12, 1), date(1984, 3, 9), date(2000, 1, 1)],
            "region": ["North", "South", "North", "East"],
        }
    )


@pytest.mark.parametrize("role", ["executive", "marketing_analyst", None])
def test_other_roles_never_see_raw_personal_data(people, role):
    masked = privacy.mask_personal_data(people, role, key=KEY)
    assert masked.get_column("first_name").to_list() == ["M***", "J***", "M***", None]
    assert masked.get_column("last_name").to_list()[:2] == ["J***", "d***"]
    assert masked.get_column("email").to_list()[:2] == ["m***@example.org", "j***@bank.test"]
    assert masked.get_column("phone").to_list()[:2] == ["*** 78", "*** 99"]
    assert masked.get_column("birth_date").to_list()[:2] == ["1984", "1990"]
    assert masked.get_column("region").to_list() == people.get_column("region").to_list()
    raw_values = set(people.select(pl.all().cast(pl.String)).to_numpy().ravel()) - {None}
    shown = set(masked.drop("region").select(pl.all().cast(pl.String)).to_numpy().ravel())
    assert not (raw_values - {"North", "South", "East"}) & shown


def test_pseudonym_is_a_keyed_hmac_stable_per_customer(people):
    masked = privacy.mask_personal_data(people, "executive", key=KEY)
    ids = masked.get_column("customer_id").to_list()
    expected = "C-" + hmac.new(KEY, b"101", hashlib.sha256).hexdigest()[:12]
    assert ids[0] == ids[2] == expected
    assert ids[1] != ids[0]
    assert ids[3] is None
    other_key = privacy.mask_personal_data(people, "executive", key=b"other")
    assert other_key.get_column("customer_id").to_list()[0] != expected


@pytest.mark.parametrize("role", ["compliance_reviewer", "admin"])
def test_privileged_roles_see_raw_data(people, role):
    assert privacy.mask_personal_data(people, role, key=KEY).equals(people)


def test_views_of_raw_personal_data_are_audited():
    db = Database(":memory:")
    db.ensure_schema()
    privacy.log_personal_data_view(
        db, username="rev", role="compliance_reviewer", target="customers", details={"rows": 3}
    )
    row = db.query("select username, role, action, target, details from audit_log").row(0)
    assert row == ("rev", "compliance_reviewer", "view_personal_data", "customers", '{"rows": 3}')


def test_an_email_without_at_sign_is_masked_whole():
    frame = pl.DataFrame({"email": ["not-an-address", None]})
    assert privacy.mask_personal_data(frame, "executive", key=KEY).get_column("email").to_list() == [
        "n***",
        None,
    ]
