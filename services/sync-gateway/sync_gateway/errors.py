"""The sync gateway's one error table."""

from shared.errors import COMMON_ERRORS, ErrorTable

ERRORS = ErrorTable({**COMMON_ERRORS})
