"""The phone demo's certificate: made once for the LAN address, remade when the address changes."""
from __future__ import annotations

import ipaddress
import stat

from cryptography import x509

from mvc.lan import ensure_certificate, fingerprint, instructions


def names(cert_path) -> set:
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    return set(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
               .get_values_for_type(x509.IPAddress))


def test_the_certificate_is_made_once_per_address(tmp_path):
    cert, key = ensure_certificate("192.0.2.10", tmp_path)
    first = cert.read_bytes()
    assert names(cert) == {ipaddress.ip_address("192.0.2.10"), ipaddress.ip_address("127.0.0.1")}
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert ensure_certificate("192.0.2.10", tmp_path)[0].read_bytes() == first  # kept
    assert ensure_certificate("127.0.0.1", tmp_path)[0].read_bytes() == first  # it names loopback too
    ensure_certificate("192.0.2.11", tmp_path)  # the machine moved to another network
    assert ipaddress.ip_address("192.0.2.11") in names(cert) and cert.read_bytes() != first


def test_the_instructions_name_the_url_the_warning_and_the_fingerprint(tmp_path):
    cert, _ = ensure_certificate("192.0.2.10", tmp_path)
    text = instructions("https://192.0.2.10:8000/m/demo", cert)
    assert "https://192.0.2.10:8000/m/demo" in text and "Proceed to 192.0.2.10" in text
    assert fingerprint(cert) in text and len(fingerprint(cert).split(":")) == 32
