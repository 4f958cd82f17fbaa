"""`camdeck capture` into a real redis-server that speaks only TLS (a self-signed certificate
made here): stored with rediss:// and the CA, refused with exit 2 on redis:// (which the
server closes without a word: before, the run read it as "away" and spooled every still) and
on an untrusted certificate."""
from __future__ import annotations

import datetime
import ipaddress

import pytest

from tests.conftest import ServerProcess, _binary, free_port
from tests.console.test_cli_capture import assert_bad_input, json_lines, rig  # noqa: F401 - rig is a fixture


def _self_signed(folder):
    """(cert.pem, key.pem) for 127.0.0.1, valid for a day."""
    from cryptography import x509      # a dev dependency (through moto)
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "camdeck test redis")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture
def tls_redis(tmp_path):
    """A real redis-server with TLS only (no plain port), clients need no certificate."""
    cert, key = _self_signed(tmp_path)
    binary = _binary("redis-server")
    server = ServerProcess(lambda port: [binary, "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
                                         "--tls-cert-file", str(cert), "--tls-key-file", str(key),
                                         "--tls-ca-cert-file", str(cert), "--tls-auth-clients", "no",
                                         "--save", "", "--appendonly", "no"], free_port(), tmp_path)
    try:
        server.start()
    except RuntimeError as err:          # e.g. a redis-server built without TLS exits at once
        pytest.fail(f"redis-server did not serve TLS ({err}); `make test` installs Debian's, which does")
    server.ca = cert
    yield server
    server.stop()


def test_rediss_with_the_servers_ca_stores_the_still(cli, rig, tls_redis):  # noqa: F811
    import redis

    url = f"rediss://127.0.0.1:{tls_redis.port}/0?ssl_ca_certs={tls_redis.ca}"
    r = cli("capture", "--count", "1", "--sink", url, "--json")
    assert r.code == 0, r.err
    key = json_lines(r.out)[0]["key"]
    assert redis.Redis.from_url(url).hget(key, "camera") == b"still"


def test_redis_url_to_a_tls_server_exits_2_and_spools_nothing(cli, rig, tls_redis, user_data_dir):  # noqa: F811
    r = cli("capture", "--count", "1", "--sink", f"redis://127.0.0.1:{tls_redis.port}/0")
    assert_bad_input(r, "speaks TLS, not plain Redis")
    assert "rediss://" in r.err
    assert not (user_data_dir / "spool").exists()         # refused, not "spooled for when Redis is back"


def test_an_untrusted_certificate_exits_2(cli, rig, tls_redis, user_data_dir):  # noqa: F811
    r = cli("capture", "--count", "1", "--sink", f"rediss://127.0.0.1:{tls_redis.port}/0")
    assert_bad_input(r, "certificate is not trusted")
    assert not (user_data_dir / "spool").exists()
