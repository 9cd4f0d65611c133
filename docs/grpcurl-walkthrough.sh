#!/usr/bin/env bash
# Enroll -> status -> revoke against `make run` with grpcurl, jq and openssl
# only: what an RA channel does, step by step. Run from the repository root
# while `make run` is up. The private key stays in this shell's temp dir.
set -euo pipefail
CA=${CA:-var/signet/root.pem}
SRV=${SRV:-127.0.0.1:9443}
g() { grpcurl -cacert "$CA" -d "$2" "$SRV" "signet.v1.$1"; }
tmp=$(mktemp -d)

# 1. A nonce for this enrollment (10 minutes, single use).
e=$(g EnrollmentService/StartEnrollment '{"profile":"personal-banking","purpose":"ENROLLMENT_PURPOSE_ISSUE"}')
nonce=$(jq -r .nonce <<<"$e"); eid=$(jq -r .enrollmentId <<<"$e")

# 2. Phone check (휴대폰 본인인증): the dev provider shows the SMS code.
p=$(g DevIdentityService/StartPhoneCheck "$(jq -n --arg n "$nonce" \
  '{nonce:$n,name:"홍길동",birth:"19900101",phone:"01012345678",carrier:"SKT"}')")
phone=$(g DevIdentityService/ConfirmPhoneCheck "$(jq '{checkId,code}' <<<"$p")" | jq -r .token)

# 3. Account check (계좌인증): the dev provider shows the 1-won memo code.
a=$(g DevIdentityService/StartAccountCheck "$(jq -n --arg n "$nonce" \
  '{nonce:$n,bank:"004",account:"12345678901234",holderName:"홍길동",holderBirth:"19900101"}')")
account=$(g DevIdentityService/ConfirmAccountCheck "$(jq '{checkId,code}' <<<"$a")" | jq -r .token)

# 4. The key is made here; only the CSR is sent.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$tmp/key.pem" 2>/dev/null
openssl req -new -key "$tmp/key.pem" -subj "/CN=subscriber" -outform DER -out "$tmp/csr.der"

# 5. Issue. Retrying with the same requestId returns the same certificate.
rid=$(cat /proc/sys/kernel/random/uuid)
cert=$(g EnrollmentService/IssueCertificate "$(jq -n --arg r "$rid" --arg e "$eid" \
  --arg c "$(base64 -w0 "$tmp/csr.der")" --arg p "$phone" --arg a "$account" \
  '{requestId:$r,enrollmentId:$e,csr:$c,evidence:{phoneToken:$p,accountToken:$a}}')")
serial=$(jq -r .certificate.serial <<<"$cert")
jq '.certificate | {serial, status, subject, notBefore, notAfter}' <<<"$cert"
jq -r .certificate.der <<<"$cert" | base64 -d > "$tmp/cert.der"
openssl x509 -inform DER -in "$tmp/cert.der" -noout -subject -enddate

# 6. Public status by serial.
g EnrollmentService/GetCertificate "{\"serial\":\"$serial\"}" | jq -c .certificate

echo "certificate, key and CSR are in $tmp"
