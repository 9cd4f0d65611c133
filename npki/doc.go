// Package npki handles the subscriber side of a Korean joint certificate
// (공동인증서): the password-protected private key file and the NPKI folder
// layout that Korean banking and government software searches for
// certificates.
//
// A subscriber's certificate lives in a folder
//
//	<home>/NPKI/<CA name>/USER/<subject DN>/
//	    signCert.der   the certificate, DER
//	    signPri.key    the private key, DER PKCS#8 EncryptedPrivateKeyInfo
//
// Korean software encrypts signPri.key with the Korean SEED cipher (package
// npki/seed): PBES2 with SEED-CBC, or the older seedCBCWithSHA1. OpenKey
// reads those and PBES2 with AES. Signet writes PBES2 (RFC 8018 §6.2) with
// PBKDF2-HMAC-SHA256 and AES-256-CBC by default, so that the file can also
// be opened by standard tools such as `openssl pkcs8 -inform DER`, and
// PBES2 with SEED-CBC on request (Key.Seal with PBES2SEED) for software
// that reads nothing else. Re-encryption keeps the key's NPKI randomNum
// attribute, without which the holder cannot prove identity later.
package npki
