"""The gateway tests' connector: a default-mode reseller's Card Gateway, answered by a fake on loopback."""

import pytest

from arrears.core.actors import SYSTEM
from arrears.gateways.services import create_connector, create_payment_method
from tests.factories import ResellerFactory
from tests.gateways.fake_connector import fake_connector
from tests.gateways.test_attempts import NOW


@pytest.fixture
def gateway(db):
    """``(connector, secret, method, fake)``: a connector of a default-mode reseller, answered by a fake."""
    reseller = ResellerFactory(name="Gatewayed")
    with fake_connector("whsec_" + "A" * 32) as fake:
        connector, secret = create_connector(
            reseller,
            name="Card Gateway",
            url=fake.url,
            processing_minutes=15,
            currencies=["EUR", "USD"],
            actor=SYSTEM,
            now=NOW,
        )
        fake.secret = secret
        method = create_payment_method(reseller, name="Card", connector=connector, actor=SYSTEM, now=NOW)
        yield connector, secret, method, fake
