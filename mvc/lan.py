"""Try MVC on a phone: HTTPS on the machine's LAN address with a self-signed certificate.

A phone's browser allows the camera only on HTTPS, so `make run-lan` makes a certificate
for the LAN address once in MVC_TLS_DIR (var/tls/; remade when the address changes or it nears its
end), gunicorn serves it (config/gunicorn.conf.py, TLS=1) and the media workers announce
the same address.
"""
from __future__ import annotations

import datetime
import ipaddress
import socket
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

VALID_DAYS = 365


def lan_address() -> str:
    """The address this machine would use towards other machines (a UDP connect sends nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("192.0.2.1", 9))  # TEST-NET-1: only picks the route, no packet leaves
        return s.getsockname()[0]


def certificate_paths(directory: Path) -> tuple[Path, Path]:
    """Where the certificate and its key live."""
    return directory / "cert.pem", directory / "key.pem"


def _covers(cert_path: Path, address: str) -> bool:
    """True if the certificate names `address` and stays valid for another week."""
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    soon = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=7)
    return ipaddress.ip_address(address) in names.get_values_for_type(x509.IPAddress) \
        and cert.not_valid_after_utc > soon


def ensure_certificate(address: str, directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for `address` (and 127.0.0.1, localhost), made once."""
    cert_path, key_path = certificate_paths(directory)
    if cert_path.exists() and key_path.exists() and _covers(cert_path, address):
        return cert_path, key_path
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"MVC test server {address}")])
    now = datetime.datetime.now(datetime.timezone.utc)
    ips = {ipaddress.ip_address(address), ipaddress.ip_address("127.0.0.1")}
    cert = (x509.CertificateBuilder()
            .subject_name(name).issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
            .add_extension(x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), *(x509.IPAddress(ip) for ip in sorted(ips, key=str))]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    key_path.touch(mode=0o600)
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def fingerprint(cert_path: Path) -> str:
    """The certificate's SHA-256 fingerprint as browsers show it (AB:CD:…)."""
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()


def instructions(url: str, cert_path: Path) -> str:
    """What to open on the phone and what the certificate warning will look like."""
    return f"""
  Open on a phone on the same Wi-Fi:   {url}

  The certificate is self-signed (made once in {cert_path.parent}), so the phone warns first:
    Chrome/Android: "Your connection is not private" (NET::ERR_CERT_AUTHORITY_INVALID)
                    -> Advanced -> Proceed to {url.split('/')[2].split(':')[0]} (unsafe)
    Safari/iPhone:  "This Connection Is Not Private" -> Show Details -> visit this website
  Check that the fingerprint the phone shows is this one:
    SHA-256 {fingerprint(cert_path)}
  Media goes straight to UDP ports on this machine: a firewall must let the phone reach them.
"""
