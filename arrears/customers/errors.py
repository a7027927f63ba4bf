from arrears.core.errors import ArrearsError, NotFound


class AccountFieldInvalid(ArrearsError):
    code = "ACCOUNT-0001"
    title = "Required field missing or malformed"


class AccountClassFieldInvalid(ArrearsError):
    code = "ACCOUNT-0002"
    title = "Bad account class"


class AccountNotFound(NotFound):
    code = "ACCOUNT-0404"
    title = "Account not found"
