"""Reading charges of a reseller the caller may see (see arrears.tenants.selectors)."""

from arrears.charges.errors import ChargeNotFound
from arrears.charges.models import Charge


def charges_of(reseller):
    return Charge.objects.filter(reseller=reseller)


def charge_of(reseller, charge_id: int) -> Charge:
    charge = charges_of(reseller).filter(pk=charge_id).first()
    if charge is None:
        raise ChargeNotFound(f"no charge {charge_id} is visible to this token")
    return charge
