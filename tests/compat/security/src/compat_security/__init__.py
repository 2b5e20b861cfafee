"""Compatibility fixture, security group: each check uses its package for real and raises if anything is off.

`compat-security` runs every check and prints one line per package, then a summary line ending in OK;
`compat-security NAME...` runs some; `compat-security import NAME` only imports NAME's modules.
"""

import datetime

from ._harness import check
from ._harness import main as _main


@check("cryptography", "cryptography.fernet", "cryptography.x509", "cryptography.hazmat.primitives.asymmetric.rsa")
def check_cryptography():
    from cryptography import x509
    from cryptography.fernet import Fernet
    from cryptography.hazmat.backends.openssl import backend
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
    from cryptography.x509.oid import NameOID

    fernet = Fernet(Fernet.generate_key())
    assert fernet.decrypt(fernet.encrypt(b"secret")) == b"secret"
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    signature = key.sign(b"amber", padding.PKCS1v15(), hashes.SHA256())
    key.public_key().verify(signature, b"amber", padding.PKCS1v15(), hashes.SHA256())  # raises if wrong
    ec_key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "amber.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(ec_key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("amber.test")]), critical=False)
            .sign(ec_key, hashes.SHA256()))
    loaded = x509.load_pem_x509_certificate(cert.public_bytes(serialization.Encoding.PEM))
    assert loaded.subject == name and loaded.fingerprint(hashes.SHA256()) == cert.fingerprint(hashes.SHA256())
    return f"Fernet, RSA-2048 sign/verify, self-signed EC X.509 ({backend.openssl_version_text()})"


@check("bcrypt", "bcrypt")
def check_bcrypt():
    import bcrypt

    hashed = bcrypt.hashpw(b"correct horse", bcrypt.gensalt(rounds=4))
    assert hashed.startswith(b"$2b$04$") and bcrypt.checkpw(b"correct horse", hashed)
    assert not bcrypt.checkpw(b"wrong horse", hashed)
    assert len(bcrypt.kdf(b"pw", b"salt" * 4, 32, 4)) == 32
    return "hashpw/checkpw, kdf"


@check("pyjwt", "jwt")
def check_pyjwt():
    import jwt
    from cryptography.hazmat.primitives.asymmetric import ec

    token = jwt.encode({"sub": "amber", "exp": 2**31 - 1}, "secret", algorithm="HS256")
    assert jwt.decode(token, "secret", algorithms=["HS256"])["sub"] == "amber"
    try:
        jwt.decode(token, "other", algorithms=["HS256"])
        raise AssertionError("a wrong key was accepted")
    except jwt.InvalidSignatureError:
        pass
    key = ec.generate_private_key(ec.SECP256R1())
    signed = jwt.encode({"sub": "amber"}, key, algorithm="ES256")
    assert jwt.decode(signed, key.public_key(), algorithms=["ES256"]) == {"sub": "amber"}
    return "HS256 and ES256 (cryptography) tokens, bad signature rejected"


# ---- the same harness in every compat fixture ----

def main():
    return _main("security")
