"""The two control panels, server-rendered: the Operator Control Panel (``operator``) for a reseller's managers
and, on the same design system (``templates/panels``, ``static/panels``), the Customer Control Panel."""
