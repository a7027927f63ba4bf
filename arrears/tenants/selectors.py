"""Reading resellers on behalf of a principal (R46)."""

from arrears.core.principals import Principal
from arrears.tenants.errors import ResellerNotFound
from arrears.tenants.models import Reseller


def reseller_visible_to(principal: Principal, reseller_id: int) -> Reseller:
    """The reseller if it is the principal's own or a descendant; otherwise 404, whether it exists or not."""
    home = principal.home_reseller
    reseller = (
        home
        if isinstance(home, Reseller) and reseller_id == home.pk
        else (Reseller.objects.filter(pk=reseller_id).first())
    )
    if reseller is None or not principal.reaches(reseller):
        raise ResellerNotFound(f"no reseller {reseller_id} is visible to this token")
    return reseller
