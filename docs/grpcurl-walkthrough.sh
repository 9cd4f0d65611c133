#!/usr/bin/env bash
# Enroll -> status -> renew -> reissue -> revoke against a dev signetd with
# grpcurl, jq and openssl only: what an RA channel does, step by step. Run
# from the repository root while the server is up. Renewal opens 30 days
# before expiry, so start the server with `--validity 240h` to try it now
# (`go run ./cmd/signetd --dev --validity 240h`); with one-year
# certificates the script says so and goes on. The private keys stay in
# this shell's temp dir.
set -euo pipefail
CA=${CA:-var/signet/root.pem}
SRV=${SRV:-127.0.0.1:9443}
NAME=${NAME:-홍길동}
g() { grpcurl -cacert "$CA" -d "$2" "$SRV" "signet.v1.$1"; }
b64url() { base64 -w0 | tr '+/' '-_' | tr -d '='; }
tmp=$(mktemp -d)

# Phone check (휴대폰 본인인증) and account check (계좌인증) through the dev
# providers, which show the SMS code and the 1-won memo code; prints the
# evidence object for the enrollment nonce $1.
evidence() {
  local p a phone account
  p=$(g DevIdentityService/StartPhoneCheck "$(jq -n --arg n "$1" --arg name "$NAME" \
    '{nonce:$n,name:$name,birth:"19900101",phone:"01012345678",carrier:"SKT"}')")
  phone=$(g DevIdentityService/ConfirmPhoneCheck "$(jq '{checkId,code}' <<<"$p")" | jq -r .token)
  a=$(g DevIdentityService/StartAccountCheck "$(jq -n --arg n "$1" --arg name "$NAME" \
    '{nonce:$n,bank:"004",account:"12345678901234",holderName:$name,holderBirth:"19900101"}')")
  account=$(g DevIdentityService/ConfirmAccountCheck "$(jq '{checkId,code}' <<<"$a")" | jq -r .token)
  jq -n --arg p "$phone" --arg a "$account" '{phoneToken:$p,accountToken:$a}'
}

# A new RSA key and its DER CSR in $tmp/$1.key.pem, $tmp/$1.csr.der.
newkey() {
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$tmp/$1.key.pem" 2>/dev/null
  openssl req -new -key "$tmp/$1.key.pem" -subj "/CN=subscriber" -outform DER -out "$tmp/$1.csr.der"
}

# A key-possession proof (RS256 compact JWS) by key $1 of certificate $2
# (DER file) for gRPC method $3, bound to $4 (see ca/proof).
proof() {
  local h c serial
  serial=$(openssl x509 -inform DER -in "$2" -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f' | sed 's/^0*//')
  h=$(jq -cn --arg x "$(base64 -w0 "$2")" '{alg:"RS256",x5c:[$x]}' | b64url)
  c=$(jq -cn --arg aud "$aud" --arg m "/signet.v1.EnrollmentService/$3" --arg s "$serial" --arg b "$4" \
    --argjson iat "$(date +%s)" --arg jti "$(cat /proc/sys/kernel/random/uuid)" \
    '{aud:$aud,method:$m,iat:$iat,jti:$jti,serial:$s,binding:$b}' | b64url)
  printf '%s.%s.%s' "$h" "$c" "$(printf '%s.%s' "$h" "$c" | openssl dgst -sha256 -sign "$1" -binary | b64url)"
}

# Writes the certificate of response $1 to $tmp/$2.der and shows it.
keep() {
  jq '.certificate | {serial, status, notBefore, notAfter}' <<<"$1"
  jq -r .certificate.der <<<"$1" | base64 -d > "$tmp/$2.der"
}

# 1. 발급. A nonce for this enrollment (10 minutes, single use); the
#    identity checks; a key made here, of which only the CSR is sent.
#    Retrying with the same requestId returns the same certificate.
echo "== issue"
# The certificate's VID (identifyData) is made from the resident number and
# a 20-byte R the device keeps in its key file; Signet keeps neither. This
# walkthrough keeps one R for every key, so renewal needs no previous R.
holder=$(jq -n --arg rn "$(head -c 20 /dev/urandom | base64 -w0)" '{idn:"9001011234567",randomNum:$rn}')
e=$(g EnrollmentService/StartEnrollment '{"profile":"personal-banking","purpose":"ENROLLMENT_PURPOSE_ISSUE"}')
aud=$(jq -r .audience <<<"$e")
newkey issued
issued=$(g EnrollmentService/IssueCertificate "$(jq -n --arg r "$(cat /proc/sys/kernel/random/uuid)" \
  --arg e "$(jq -r .enrollmentId <<<"$e")" --arg c "$(base64 -w0 "$tmp/issued.csr.der")" \
  --argjson ev "$(evidence "$(jq -r .nonce <<<"$e")")" --argjson h "$holder" \
  '{requestId:$r,enrollmentId:$e,csr:$c,evidence:$ev,holder:$h}')")
keep "$issued" issued
openssl x509 -inform DER -in "$tmp/issued.der" -noout -subject -enddate

# 2. 상태: public status by serial.
echo "== status"
g EnrollmentService/GetCertificate "$(jq '{serial:.certificate.serial}' <<<"$issued")" | jq -c .certificate

# 3. 갱신: a new key, authorized by a proof made with the current one and
#    bound to the new CSR.
echo "== renew"
current=issued
newkey renewed
if renewed=$(g EnrollmentService/RenewCertificate "$(jq -n --arg r "$(cat /proc/sys/kernel/random/uuid)" \
  --arg c "$(base64 -w0 "$tmp/renewed.csr.der")" \
  --arg p "$(proof "$tmp/issued.key.pem" "$tmp/issued.der" RenewCertificate "$(sha256sum "$tmp/renewed.csr.der" | cut -d' ' -f1)")" \
  --argjson h "$holder" '{requestId:$r,csr:$c,proof:$p,holder:$h}')" 2>"$tmp/renew.err"); then
  keep "$renewed" renewed
  current=renewed
else
  sed -n 's/^ *Message: //p' "$tmp/renew.err"
  echo "(renewal opens 30 days before expiry: start signetd with --validity 240h to try it now)"
fi

# 4. 재발급 after a lost key: the identity checks again, a new key; the
#    notAfter stays and the old certificate is revoked as superseded.
echo "== reissue"
e=$(g EnrollmentService/StartEnrollment '{"profile":"personal-banking","purpose":"ENROLLMENT_PURPOSE_REISSUE"}')
newkey reissued
reissued=$(g EnrollmentService/ReissueCertificate "$(jq -n --arg r "$(cat /proc/sys/kernel/random/uuid)" \
  --arg e "$(jq -r .enrollmentId <<<"$e")" --arg c "$(base64 -w0 "$tmp/reissued.csr.der")" \
  --argjson ev "$(evidence "$(jq -r .nonce <<<"$e")")" --argjson h "$holder" \
  '{requestId:$r,enrollmentId:$e,csr:$c,evidence:$ev,holder:$h}')")
keep "$reissued" reissued
echo "replaced: $(jq -r .replacedSerial <<<"$reissued")"
g EnrollmentService/GetCertificate "$(jq -n --arg s "$(jq -r .replacedSerial <<<"$reissued")" '{serial:$s}')" \
  | jq -c '.certificate | {serial, status, revocationReason}'

# 5. 폐지 with the key: the proof is bound to the reason.
echo "== revoke"
revoked=$(g EnrollmentService/RevokeCertificate "$(jq -n --arg r "$(cat /proc/sys/kernel/random/uuid)" \
  --arg s "$(jq -r .certificate.serial <<<"$reissued")" \
  --arg p "$(proof "$tmp/reissued.key.pem" "$tmp/reissued.der" RevokeCertificate reason=keyCompromise)" \
  '{requestId:$r,serial:$s,reason:"REVOCATION_REASON_KEY_COMPROMISE",proof:$p}')")
jq -c '.certificate | {serial, status, revocationReason}' <<<"$revoked"

echo "keys, CSRs and certificates are in $tmp (last live one before revocation: $current)"
