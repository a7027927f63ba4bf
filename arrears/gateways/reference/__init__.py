"""The reference gateway: ``arrears gateway``, a payment connector speaking protocol v1 (docs/payment-connectors.md).

It runs as a process of its own on loopback, keeps its checkouts in memory, and charges nobody: its checkout page
lets whoever holds the browser choose the outcome (**Pay**, **Decline**, **Never answer**, **Pay twice**, or
cancel). ``arrears serve`` starts one for every connector marked ``runs_with_serve`` (the demo's Demo Gateway), and
the tests drive it as a real separate process.

It depends on the standard library, ``standardwebhooks``, ``httpx`` and ``babel`` only, not on Django or on the
rest of Arrears, so it can be read as an example of a connector:

* :mod:`.checkouts` — what a checkout is, the request that opens one, and the outcomes a checkout may reach;
* :mod:`.callbacks` — the signed callbacks to Arrears, retried with the same ``webhook-id``;
* :mod:`.page` — the HTML checkout page;
* :mod:`.server` — the HTTP routes.
"""
