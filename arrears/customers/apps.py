from django.apps import AppConfig


class CustomersConfig(AppConfig):
    name = "arrears.customers"
    label = "customers"

    def ready(self) -> None:
        # Imported here, not above: the services import models, which only exist once the app registry is ready.
        from arrears.customers.services import create_default_account_class
        from arrears.tenants.services import reseller_created

        # Tenants sit below customers and cannot call them: a new reseller gets its default account class this
        # way, inside create_reseller's transaction.
        reseller_created.register(create_default_account_class)
