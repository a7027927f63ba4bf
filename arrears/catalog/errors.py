from arrears.core.errors import ArrearsError, NotFound


class PlanFieldInvalid(ArrearsError):
    code = "PLAN-0001"
    title = "Required field missing or malformed"


class PlanNotFound(NotFound):
    code = "PLAN-0404"
    title = "Plan not found"
