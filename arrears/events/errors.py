from arrears.core.errors import ArrearsError


class FeedParameterInvalid(ArrearsError):
    code = "EVENT-0001"
    title = "Bad feed parameter"
