from arrears.core.errors import ArrearsError


class PlanFieldInvalid(ArrearsError):
    code = "PLAN-0001"
    title = "Required field missing or malformed"
