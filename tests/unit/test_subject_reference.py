"""A data-subject request names its customer by number or by masked id; both resolve to the number."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from analytics.privacy.reference import resolve_customer_reference


def test_a_number_and_a_masked_id_name_the_same_customer(sample_db):
    # The masked id recomputed here from its definition: HMAC-SHA256 of the number, 12 hex digits.
    digest = hmac.new(sample_db.keys.pseudonym, b"119876", hashlib.sha256).hexdigest()
    assert resolve_customer_reference(sample_db, " 119876 ") == 119876
    assert resolve_customer_reference(sample_db, f"C-{digest[:12]}") == 119876


@pytest.mark.parametrize(
    ("text", "refusal"),
    [
        ("C-000000000000", "No customer of this bank has the masked id 'C-000000000000'"),
        ("Julius Willemsen", "neither a customer number nor a masked id"),
        ("C-XYZ", "neither a customer number nor a masked id"),
        ("", "neither a customer number nor a masked id"),
    ],
)
def test_anything_else_is_refused_by_name(sample_db, text, refusal):
    with pytest.raises(ValueError, match=refusal):
        resolve_customer_reference(sample_db, text)
