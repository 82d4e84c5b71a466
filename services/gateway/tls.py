"""TLS for the gateway: uvicorn serves HTTPS with ``gateway.tls_cert`` / ``gateway.tls_key``
(calls to an external engine over ``https://`` trust ``engine.ca_bundle``: ``VLLMEngine``).

Clients of an HTTPS gateway whose certificate comes from a private CA trust it with
``SSL_CERT_FILE=ca.pem`` (httpx, the ``ragtune`` CLI) or their own option (``curl --cacert``).
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

from ragtune.errors import RagtuneError
from ragtune.settings import GatewaySettings


def _readable(path: Path, what: str) -> str:
    if not Path(path).expanduser().is_file():
        raise RagtuneError(f"{what} {path} does not exist or is not a file")
    return str(Path(path).expanduser())


def uvicorn_tls(gateway: GatewaySettings) -> dict[str, Any]:
    """``uvicorn.Config`` keyword arguments that serve HTTPS (empty without a certificate).

    A certificate without its key (or the other way round), a missing file or a key that does not
    belong to the certificate is one clear ``RagtuneError``, before anything starts.
    """
    cert, key = gateway.tls_cert, gateway.tls_key
    if cert is None and key is None:
        return {}
    if cert is None or key is None:
        raise RagtuneError("TLS needs both a certificate and its key (--tls-cert and --tls-key)")
    options = {
        "ssl_certfile": _readable(cert, "the TLS certificate"),
        "ssl_keyfile": _readable(key, "the TLS key"),
    }
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(
            options["ssl_certfile"], options["ssl_keyfile"]
        )
    except (ssl.SSLError, ValueError) as exc:
        raise RagtuneError(
            f"the TLS certificate {cert} and key {key} cannot be used together ({exc.__class__.__name__}: "
            f"{getattr(exc, 'reason', None) or exc})"
        ) from None
    return options


def scheme(gateway: GatewaySettings) -> str:
    """``https`` when the gateway serves TLS, else ``http``."""
    return "https" if gateway.tls_cert is not None else "http"
