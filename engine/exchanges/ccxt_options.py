"""What a ccxt exchange's options may say: the rules btk.toml and ``add_ccxt_exchange`` share.

Written once here so the project loader (which can name file and line) and the engine (which
guards scripts) refuse the same things:

* **Secrets, anywhere.** A key in a config file ends up in source control, a backup or a
  screenshot. So a credential is refused at any depth: a key that names one (``apiKey``,
  ``secret``, ``token``, ``api_secret``, ...), an HTTP header whose name mentions a key, secret,
  token, signature or auth (``X-MBX-APIKEY``), and a URL carrying ``user:pass@`` or a credential
  in its query. Keys come from the environment only (``credential_env_vars``).
* **verbose.** ccxt's ``verbose`` prints every request's headers, the API key among them, to
  stdout. It is refused; btk's ``log_requests`` logs each request's URL (no headers, signature
  redacted) to the engine log instead.
* **Types.** ccxt takes ``timeout = "abc"`` without a word and then fails at every fetch, so the
  settings btk reads and the common ccxt ones are checked at load.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

__all__ = ["credential_env_vars", "option_problem", "secrets_in"]

_ENV_FIELDS = {"apiKey": "API_KEY", "secret": "SECRET", "password": "PASSWORD"}
_CREDENTIAL_NAMES = frozenset(
    {"apikey", "secret", "password", "passphrase", "uid", "privatekey", "walletaddress", "token", "login", "twofa"}
)
_CREDENTIAL_ENDINGS = ("apikey", "secret", "secretkey", "password", "passphrase", "privatekey", "token")
_HEADER_WORDS = ("key", "secret", "token", "signature", "auth", "passphrase", "cookie")

VERBOSE_REFUSED = (
    "verbose is refused: ccxt then prints every request's headers, the API key among them, to stdout; "
    "use log_requests = true instead (each request's URL in the engine log, no headers, signature redacted)"
)


def credential_env_vars(exchange_id: str) -> dict[str, str]:
    """ccxt credential field -> the environment variable it is read from, e.g. ``BTK_BINANCE_API_KEY``."""
    prefix = "BTK_" + re.sub(r"[^A-Z0-9]", "_", str(exchange_id).upper())
    return {field: f"{prefix}_{suffix}" for field, suffix in _ENV_FIELDS.items()}


def _squash(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _names_credential(name: str) -> bool:
    squashed = _squash(name)
    return squashed in _CREDENTIAL_NAMES or squashed.endswith(_CREDENTIAL_ENDINGS)


def _url_secret(text: str) -> str | None:
    if "://" not in text:
        return None
    try:
        url = urlsplit(text.strip())
    except ValueError:
        return None
    if url.username or url.password:
        return "a URL with credentials (user:password@)"
    for name, _ in parse_qsl(url.query, keep_blank_values=True):
        if _names_credential(name) or "signature" in name.lower():
            return f"a URL with a credential in its query ({name}=)"
    return None


def secrets_in(
    value: Any, path: tuple[str, ...] = (), *, headers: bool = False
) -> Iterator[tuple[tuple[str, ...], str]]:
    """Every credential in ``value`` (a parsed TOML document or an options dict): ``(key path, what)``."""
    if isinstance(value, dict):
        for key, item in value.items():
            key = str(key)
            here = (*path, key)
            if _names_credential(key):
                yield here, "a credential"
            elif headers and any(word in key.lower() for word in _HEADER_WORDS):
                yield here, "a credential header"
            else:
                yield from secrets_in(item, here, headers=headers or key.lower() == "headers")
    elif isinstance(value, list):
        for item in value:
            yield from secrets_in(item, path, headers=headers)
    elif isinstance(value, str):
        why = _url_secret(value)
        if why is not None:
            yield path, why


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value


def _positive_number(value: Any) -> str | None:
    return None if _number(value) and value > 0 else "expected a number > 0"


def _number_at_least_0(value: Any) -> str | None:
    return None if _number(value) and value >= 0 else "expected a number >= 0"


def _positive_int(value: Any) -> str | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= 1
    return None if ok else "expected an integer >= 1"


def _int_at_least_0(value: Any) -> str | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
    return None if ok else "expected an integer >= 0"


def _boolean(value: Any) -> str | None:
    return None if isinstance(value, bool) else "expected true or false"


def _table(value: Any) -> str | None:
    return None if isinstance(value, dict) else "expected a table"


def _string(value: Any) -> str | None:
    return None if isinstance(value, str) and value.strip() else "expected a non-empty string"


def _strings(value: Any) -> str | None:
    ok = isinstance(value, list | tuple) and all(isinstance(s, str) and s.strip() for s in value)
    return None if ok else "expected an array of non-empty strings"


def _cache(value: Any) -> str | None:
    if isinstance(value, bool) or (isinstance(value, str) and value.strip()):
        return None
    return 'expected true/false or a catalog folder such as "data/"'


_OPTION_RULES = {
    "exchange_id": _string,
    "sandbox": _boolean,
    "note": _string,
    "symbols": _strings,
    "max_per_call": _positive_int,
    "max_retries": _int_at_least_0,
    "backoff_ms": _number_at_least_0,
    "log_requests": _boolean,
    "cache": _cache,
    "timeout": _positive_number,
    "rateLimit": _positive_number,
    "enableRateLimit": _boolean,
    "timeout_on_exit": _number_at_least_0,
    "options": _table,
    "urls": _table,
    "headers": _table,
    "userAgent": _string,
    "proxy": _string,
    "httpProxy": _string,
    "httpsProxy": _string,
    "socksProxy": _string,
}


def option_problem(key: str, value: Any) -> str | None:
    """Why ``key = value`` is unusable as an exchange option (None when it is fine or not checked)."""
    if key == "verbose":
        return None if value is False else VERBOSE_REFUSED
    rule = _OPTION_RULES.get(key)
    return None if rule is None else rule(value)
