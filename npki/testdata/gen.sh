#!/bin/sh
# Regenerates the key-file fixtures in this folder (see README.md). Needs
# OpenSSL 3 with the legacy provider, and python3.
set -eu
cd "$(dirname "$0")"
[ -f key-rsa.pem ] || openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out key-rsa.pem
[ -f key-p256.pem ] || openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out key-p256.pem
pw=file:password.txt
L="-provider legacy -provider default"
# PBES2 + SEED-CBC as OpenSSL writes it, with both PBKDF2 prfs.
openssl pkcs8 -topk8 -v2 seed-cbc -v2prf hmacWithSHA1 -iter 2048 $L -in key-rsa.pem -outform DER -out openssl-seed-sha1.key -passout $pw
openssl pkcs8 -topk8 -v2 seed-cbc -v2prf hmacWithSHA256 -iter 2048 $L -in key-p256.pem -outform DER -out openssl-seed-sha256.key -passout $pw
# PBES2 + AES-256-CBC, what Signet writes by default.
openssl pkcs8 -topk8 -v2 aes-256-cbc -v2prf hmacWithSHA256 -iter 2048 -in key-rsa.pem -outform DER -out openssl-aes256.key -passout $pw
# The KISA schemes and randomNum, by the independent Python writer.
python3 make_kisa_keys.py
