#!/usr/bin/env python3
"""Writes NPKI signPri.key fixtures the way Korean software does, independently
of Signet's Go code: Python's hashlib does the key derivation, DER is built by
hand below, and SEED-CBC is OpenSSL's (`openssl enc -seed-cbc`, legacy
provider). Standard library only.

    python3 make_kisa_keys.py     # run in this folder; see README.md

Inputs: key-rsa.pem (a plain PKCS#8 key made by `openssl genpkey`) and
password.txt. Outputs, all DER EncryptedPrivateKeyInfo with the NPKI randomNum
attribute (1.2.410.200004.10.1.1.3, SET { BIT STRING R }) added to the key:
  seedcbcwithsha1-rand.key  seedCBCWithSHA1 (1.2.410.200004.1.15)
  seedcbc-fixediv-rand.key  top-level SEED-CBC (1.2.410.200004.1.4), fixed IV
  pbes2-seed-rand.key       PBES2 + PBKDF2-HMAC-SHA1 + SEED-CBC
and randomnum.hex, the R written into them.
"""
import base64
import hashlib
import subprocess

ITER = 2048  # what NPKI software uses


def der_len(n):
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def tlv(tag, body):
    return bytes([tag]) + der_len(len(body)) + body


def seq(*parts):
    return tlv(0x30, b"".join(parts))


def octets(b):
    return tlv(0x04, b)


def integer(n):
    b = n.to_bytes(n.bit_length() // 8 + 1, "big")
    return tlv(0x02, b)


def oid(dotted):
    arcs = [int(a) for a in dotted.split(".")]
    body = bytes([40 * arcs[0] + arcs[1]])
    for a in arcs[2:]:
        chunk = [a & 0x7F]
        a >>= 7
        while a:
            chunk.append(0x80 | (a & 0x7F))
            a >>= 7
        body += bytes(reversed(chunk))
    return tlv(0x06, body)


def read_tlv(b):
    """Splits one DER element into (tag, body, rest)."""
    tag, n, i = b[0], b[1], 2
    if n & 0x80:
        k = n & 0x7F
        n = int.from_bytes(b[2:2 + k], "big")
        i = 2 + k
    return tag, b[i:i + n], b[i + n:]


def seed_cbc(key, iv, data):
    pad = 16 - len(data) % 16
    data += bytes([pad]) * pad
    return subprocess.run(
        ["openssl", "enc", "-seed-cbc", "-nopad", "-provider", "legacy", "-provider", "default",
         "-K", key.hex(), "-iv", iv.hex()],
        input=data, stdout=subprocess.PIPE, check=True).stdout


def pbkdf1_sha1(password, salt, c):
    dk = hashlib.sha1(password + salt).digest()
    for _ in range(c - 1):
        dk = hashlib.sha1(dk).digest()
    return dk


def main():
    password = open("password.txt", "rb").read().split(b"\n")[0]
    pem = open("key-rsa.pem").read()
    plain = base64.b64decode("".join(l for l in pem.splitlines() if not l.startswith("-----")))

    # Deterministic inputs, so that re-running gives the same files.
    r = hashlib.sha1(b"signet fixture randomNum").digest()  # 20 bytes, as in NPKI
    salt = hashlib.sha1(b"signet fixture salt").digest()[:8]
    iv = hashlib.sha1(b"signet fixture iv").digest()[:16]

    # OneAsymmetricKey + attributes [0] { randomNum }.
    tag, body, rest = read_tlv(plain)
    assert tag == 0x30 and rest == b""
    attr = seq(oid("1.2.410.200004.10.1.1.3"), tlv(0x31, tlv(0x03, b"\x00" + r)))
    with_rand = seq(body[:] + tlv(0xA0, attr))

    # seedCBCWithSHA1: key = dk[0:16], IV = SHA1(dk[16:20])[0:16].
    dk = pbkdf1_sha1(password, salt, ITER)
    ct = seed_cbc(dk[:16], hashlib.sha1(dk[16:20]).digest()[:16], with_rand)
    alg = seq(oid("1.2.410.200004.1.15"), seq(octets(salt), integer(ITER)))
    open("seedcbcwithsha1-rand.key", "wb").write(seq(alg, octets(ct)))

    # Top-level SEED-CBC: same key, fixed IV.
    ct = seed_cbc(dk[:16], b"0123456789012345", with_rand)
    alg = seq(oid("1.2.410.200004.1.4"), seq(octets(salt), integer(ITER)))
    open("seedcbc-fixediv-rand.key", "wb").write(seq(alg, octets(ct)))

    # PBES2: PBKDF2-HMAC-SHA1 (prf left out, it is the default) + SEED-CBC.
    key = hashlib.pbkdf2_hmac("sha1", password, salt, ITER, 16)
    ct = seed_cbc(key, iv, with_rand)
    kdf = seq(oid("1.2.840.113549.1.5.12"), seq(octets(salt), integer(ITER)))
    enc = seq(oid("1.2.410.200004.1.4"), octets(iv))
    alg = seq(oid("1.2.840.113549.1.5.13"), seq(kdf, enc))
    open("pbes2-seed-rand.key", "wb").write(seq(alg, octets(ct)))

    open("randomnum.hex", "w").write(r.hex() + "\n")


if __name__ == "__main__":
    main()
