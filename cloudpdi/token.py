"""The HI-TOKEN: the typed items that let a receiver find, fetch and open one transfer.

ISO/TS 22691 defines the token as a set of typed data items exchanged in electronic, symbol
and print form, but its item list and serialisation are not public. What is here is our
reference binding ``cpdi-ref/1`` (ASSUMED, DESIGN.md section 4), one job per module:

- :mod:`cloudpdi.token_model`: the items, their validation, issuing and the validity check;
- :mod:`cloudpdi.token_json`: the canonical JSON form;
- :mod:`cloudpdi.compact`: the compact text for QR codes and typing by hand;
- :mod:`cloudpdi.seal`: the sealed electronic form; :mod:`cloudpdi.slip`: QR code and slip.

This module gathers the first three so that callers have one place to import from.
"""

from cloudpdi.compact import from_compact, group_compact, to_compact
from cloudpdi.token_json import from_json, to_json
from cloudpdi.token_model import (
    DEFAULT_LIFETIME,
    TOKEN_VERSION,
    ContentSummary,
    Facility,
    Token,
    TokenCheckCodeError,
    TokenError,
    TokenExpired,
    TokenMalformed,
    TokenNotYetValid,
    TokenRecipientError,
    TokenSignatureError,
    TokenTooLarge,
    check_recipient,
    check_token,
    format_timestamp,
    issue_token,
    new_document_id,
)

__all__ = [
    "DEFAULT_LIFETIME",
    "TOKEN_VERSION",
    "ContentSummary",
    "Facility",
    "Token",
    "TokenCheckCodeError",
    "TokenError",
    "TokenExpired",
    "TokenMalformed",
    "TokenNotYetValid",
    "TokenRecipientError",
    "TokenSignatureError",
    "TokenTooLarge",
    "check_recipient",
    "check_token",
    "format_timestamp",
    "from_compact",
    "from_json",
    "group_compact",
    "issue_token",
    "new_document_id",
    "to_compact",
    "to_json",
]
