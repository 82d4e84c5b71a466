"""HTTPS: the gateway served by uvicorn with a certificate from a private CA made here (with
``cryptography``), a client trusting that CA gets answers and one that does not is refused; the
vLLM engine client reaches an HTTPS server through ``engine.ca_bundle``. The engine is the test
double (what is tested is the transport), the tokenizer and embedder are the real small models."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
from pathlib import Path

import httpx
import pytest

from ragtune.errors import RagtuneError
from ragtune.settings import GatewaySettings, Settings
from services.engines.base import EngineError
from tests.fakes import FakeEngine

pytestmark = pytest.mark.integration


def _name(common: str):
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def make_pki(folder: Path) -> tuple[Path, Path, Path]:
    """(CA certificate, server certificate for 127.0.0.1 / localhost signed by it, server key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("ragtune test CA"))
        .issuer_name(_name("ragtune test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca.subject)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    ca_path, cert_path, key_path = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(server.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    key_path.chmod(0o600)
    return ca_path, cert_path, key_path


@pytest.fixture()
def https_gateway(home_with_models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from services.gateway.server import BackgroundGateway

    ca, cert, key = make_pki(tmp_path / "pki")
    monkeypatch.setattr(
        "services.engines.factory.create_engine", lambda settings: FakeEngine(base_model="smollm2-135m-instruct")
    )
    settings = Settings(home=home_with_models, gateway=GatewaySettings(tls_cert=cert, tls_key=key))
    with BackgroundGateway(settings, start_timeout_s=300) as gateway:
        yield gateway, ca


def test_https_gateway_answers_clients_that_trust_its_ca_only(https_gateway) -> None:
    gateway, ca = https_gateway
    assert gateway.url.startswith("https://127.0.0.1:")
    trusted = httpx.get(gateway.url + "/v1/models", verify=ssl.create_default_context(cafile=str(ca)), timeout=30)
    assert trusted.status_code == 200
    assert trusted.json()["data"][0]["id"] == "smollm2-135m-instruct"
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(gateway.url + "/v1/models", timeout=30)  # the public CAs do not vouch for it
    with pytest.raises(httpx.HTTPError):
        httpx.get(gateway.url.replace("https://", "http://") + "/v1/models", timeout=30)  # no plain HTTP


def test_engine_client_reaches_an_https_server_through_its_ca_bundle(https_gateway) -> None:
    """The gateway speaks the OpenAI API, so it stands in for an external vLLM behind TLS."""
    from services.engines.vllm_engine import VLLMEngine

    gateway, ca = https_gateway

    async def start(ca_bundle: Path | None) -> list[str]:
        engine = VLLMEngine(served_model_name="smollm2-135m-instruct", url=gateway.url + "/v1", ca_bundle=ca_bundle)
        try:
            await engine.start()
            return [engine.base_model]
        finally:
            await engine.stop()

    assert asyncio.run(start(ca)) == ["smollm2-135m-instruct"]
    with pytest.raises(EngineError, match="unreachable"):
        asyncio.run(start(None))


def test_tls_settings_are_checked_before_anything_starts(tmp_path: Path) -> None:
    from services.engines.vllm_engine import client_context
    from services.gateway.tls import uvicorn_tls

    ca, cert, key = make_pki(tmp_path / "pki")
    _other_ca, _other_cert, other_key = make_pki(tmp_path / "other")
    assert uvicorn_tls(GatewaySettings()) == {}
    assert uvicorn_tls(GatewaySettings(tls_cert=cert, tls_key=key)) == {
        "ssl_certfile": str(cert),
        "ssl_keyfile": str(key),
    }
    with pytest.raises(RagtuneError, match="both"):
        uvicorn_tls(GatewaySettings(tls_cert=cert))
    with pytest.raises(RagtuneError, match="does not exist"):
        uvicorn_tls(GatewaySettings(tls_cert=tmp_path / "nope.pem", tls_key=key))
    with pytest.raises(RagtuneError, match="cannot be used together"):
        uvicorn_tls(GatewaySettings(tls_cert=cert, tls_key=other_key))
    assert isinstance(client_context(ca), ssl.SSLContext) and client_context(None) is True
    with pytest.raises(EngineError, match="CA bundle"):
        client_context(tmp_path / "missing.pem")
