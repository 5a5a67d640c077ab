"""Certificates made by the openssl command line for the system VM certificate tests."""

import subprocess
from pathlib import Path


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def _key_and_request(folder: Path, stem: str, subject: str) -> tuple[Path, Path]:
    key, request = folder / f"{stem}.key", folder / f"{stem}.csr"
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", str(key), "-out", str(request), "-subj", subject)
    return key, request


def authority(folder: Path, name: str = "Test Root CA") -> tuple[Path, Path]:
    """A self-signed CA: (certificate, key)."""
    key, cert = folder / "root.key", folder / "root.pem"
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", str(key), "-out", str(cert), "-subj", f"/CN={name}", "-days", "3650")
    return cert, key


def issued(folder: Path, stem: str, issuer: tuple[Path, Path], common_name: str,
           names: list[str], days: int, ca: bool = False) -> tuple[Path, Path]:
    """A certificate signed by `issuer`, valid from now for `days` (negative: already expired)."""
    key, request = _key_and_request(folder, stem, f"/CN={common_name}")
    extensions = folder / f"{stem}.ext"
    lines = ["basicConstraints=critical,CA:TRUE" if ca else "basicConstraints=CA:FALSE"]
    if names:
        lines.append("subjectAltName=" + ",".join(f"DNS:{name}" for name in names))
    extensions.write_text("\n".join(lines) + "\n")
    cert = folder / f"{stem}.pem"
    _openssl("x509", "-req", "-in", str(request), "-CA", str(issuer[0]), "-CAkey", str(issuer[1]),
             "-CAcreateserial", "-out", str(cert), "-days", str(days), "-extfile", str(extensions))
    return cert, key


def trust(folder: Path, cert: Path) -> None:
    """Put `cert` in a trust folder the way OpenSSL's CApath layout names it (<hash>.0)."""
    folder.mkdir(parents=True, exist_ok=True)
    subject_hash = subprocess.run(["openssl", "x509", "-in", str(cert), "-noout", "-subject_hash"],
                                  check=True, capture_output=True, text=True).stdout.strip()
    (folder / f"{subject_hash}.0").write_bytes(cert.read_bytes())
