from arrears.core.errors import ArrearsError, NotFound


class ResellerFieldInvalid(ArrearsError):
    code = "RESELLER-0001"
    title = "Required field missing or malformed"


class ResellerNotFound(NotFound):
    code = "RESELLER-0404"
    title = "Reseller not found"


class ManagerFieldInvalid(ArrearsError):
    code = "MANAGER-0001"
    title = "Required field missing or malformed"


class TokenFieldInvalid(ArrearsError):
    code = "TOKEN-0001"
    title = "Required field missing or malformed"


class TokenAlreadyRevoked(ArrearsError):
    code = "TOKEN-0101"
    title = "Token already revoked"


class TokenNotFound(NotFound):
    code = "TOKEN-0404"
    title = "Token not found"


class ManagerOwnAccount(ArrearsError):
    code = "MANAGER-0101"
    status = 409
    title = "You cannot deactivate or demote yourself"


class ManagerInactive(ArrearsError):
    code = "MANAGER-0102"
    status = 409
    title = "Manager already deactivated"


class ManagerNotFound(NotFound):
    code = "MANAGER-0404"
    title = "Manager not found"
