"""``vigil api`` over TLS, as in production: HTTPS with the configured certificate, no
plain HTTP on that port, and the settings refused when half given.

The certificate is made here (self-signed, for 127.0.0.1) with ``cryptography``; a client
that trusts it talks to the API, one that does not is refused by the handshake.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.vigil.service_process import VigilRun
from vigil.embedded_broker import free_port

SECRET = "an-api-secret-of-at-least-32-bytes!"


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vigil test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "api.crt", directory / "api.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_the_api_serves_https_with_its_certificate_and_nothing_in_the_clear(
    tmp_path: Path,
) -> None:
    cert, key = self_signed(tmp_path)
    port = free_port()
    env = {
        "VIGIL_DATABASE_URL": f"sqlite:///{tmp_path / 'vigil.db'}",
        "VIGIL_API_JWT_SECRET": SECRET,
        "VIGIL_API_PORT": str(port),
        "VIGIL_API_TLS_CERT": str(cert),
        "VIGIL_API_TLS_KEY": str(key),
    }
    api = VigilRun(env, ("api",), ready="ready: the API on https://")
    api.start()
    try:
        trusted = ssl.create_default_context(cafile=str(cert))
        with httpx.Client(verify=trusted, timeout=10) as http:
            answer = http.get(f"https://127.0.0.1:{port}/healthz")
            assert answer.status_code == 200
            assert http.get(f"https://127.0.0.1:{port}/v1/doctors").status_code == 401
        with httpx.Client(timeout=10) as untrusting, pytest.raises(httpx.ConnectError):
            untrusting.get(f"https://127.0.0.1:{port}/healthz")  # unknown issuer
        with httpx.Client(timeout=10) as plain, pytest.raises(httpx.HTTPError):
            plain.get(f"http://127.0.0.1:{port}/healthz")
    finally:
        assert api.terminate() == 0, "".join(api.log[-20:])


def test_half_a_tls_setting_is_refused(tmp_path: Path) -> None:
    cert, _ = self_signed(tmp_path)
    env = {
        **VigilRun({}).env,
        "VIGIL_DATABASE_URL": f"sqlite:///{tmp_path / 'vigil.db'}",
        "VIGIL_API_JWT_SECRET": SECRET,
        "VIGIL_API_TLS_CERT": str(cert),
    }
    done = subprocess.run(
        [sys.executable, "-m", "vigil", "api"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "VIGIL_API_TLS_KEY" in done.stderr
