package ocsp

import (
	"bytes"
	"crypto"
	_ "crypto/sha1" // CertID hashes: SHA-1 is what openssl and most clients send
	_ "crypto/sha256"
	_ "crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"math/big"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// hashes are the CertID hash algorithms answered. RFC 5019 section 2.1.1
// makes SHA-1 the one clients use (openssl's default); RFC 6960's CertID
// (section 4.1.1) names its hash, newer clients send SHA-256, and the
// responder answers in kind, because a client matches the response to its
// request by the whole CertID, hash algorithm included.
var hashes = []struct {
	hash crypto.Hash
	oid  asn1.ObjectIdentifier
}{
	{crypto.SHA1, asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}},
	{crypto.SHA256, asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}},
	{crypto.SHA384, asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}},
	{crypto.SHA512, asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}},
}

// request is one parsed CertID. alg indexes hashes.
type request struct {
	alg            int
	issuerNameHash []byte
	issuerKeyHash  []byte
	serial         *big.Int
}

var errMalformed = errors.New("ocsp: malformed request")

// parseRequest reads a DER OCSPRequest (RFC 6960 section 4.1.1):
//
//	OCSPRequest ::= SEQUENCE {
//	    tbsRequest                  TBSRequest,
//	    optionalSignature   [0]     EXPLICIT Signature OPTIONAL }
//	TBSRequest ::= SEQUENCE {
//	    version             [0]     EXPLICIT Version DEFAULT v1,
//	    requestorName       [1]     EXPLICIT GeneralName OPTIONAL,
//	    requestList                 SEQUENCE OF Request,
//	    requestExtensions   [2]     EXPLICIT Extensions OPTIONAL }
//	Request ::= SEQUENCE {
//	    reqCert                     CertID,
//	    singleRequestExtensions [0] EXPLICIT Extensions OPTIONAL }
//
// Following RFC 5019 section 2.1.1 it accepts exactly one Request:
// answering only the first of several, as golang.org/x/crypto/ocsp's
// ParseRequest does, would leave the client without the others' status
// and without an error. A signature on the request is ignored, which RFC
// 5019 section 2.1.2 permits, rather than refused; nonces and other
// extensions are ignored too, because pre-signed responses cannot echo
// them: RFC 5019 section 2.2.1 has the responder answer without the nonce
// and section 4 has clients accept that. cryptobyte rather than encoding/asn1 because
// this runs on every request and reflection was a third of its cost.
func parseRequest(der []byte) (*request, error) {
	var (
		input                       = cryptobyte.String(der)
		ocspReq, tbs, list, one, id cryptobyte.String
		alg, nameHash, keyHash      cryptobyte.String
		oid                         asn1.ObjectIdentifier
		serial                      = new(big.Int)
		tag0, tag1, tag2            = cbasn1.Tag(0).Constructed().ContextSpecific(), cbasn1.Tag(1).Constructed().ContextSpecific(), cbasn1.Tag(2).Constructed().ContextSpecific()
	)
	ok := input.ReadASN1(&ocspReq, cbasn1.SEQUENCE) && input.Empty() &&
		ocspReq.ReadASN1(&tbs, cbasn1.SEQUENCE) &&
		ocspReq.SkipOptionalASN1(tag0) && ocspReq.Empty() &&
		tbs.SkipOptionalASN1(tag0) && tbs.SkipOptionalASN1(tag1) &&
		tbs.ReadASN1(&list, cbasn1.SEQUENCE) &&
		tbs.SkipOptionalASN1(tag2) && tbs.Empty() &&
		list.ReadASN1(&one, cbasn1.SEQUENCE) && list.Empty() &&
		one.ReadASN1(&id, cbasn1.SEQUENCE) &&
		one.SkipOptionalASN1(tag0) && one.Empty() &&
		id.ReadASN1(&alg, cbasn1.SEQUENCE) &&
		alg.ReadASN1ObjectIdentifier(&oid) && // parameters (NULL or absent) ignored
		id.ReadASN1(&nameHash, cbasn1.OCTET_STRING) &&
		id.ReadASN1(&keyHash, cbasn1.OCTET_STRING) &&
		id.ReadASN1Integer(serial) && id.Empty()
	if !ok {
		return nil, errMalformed
	}
	for i, h := range hashes {
		if oid.Equal(h.oid) {
			if len(nameHash) != h.hash.Size() || len(keyHash) != h.hash.Size() {
				return nil, errMalformed
			}
			return &request{alg: i, issuerNameHash: nameHash, issuerKeyHash: keyHash, serial: serial}, nil
		}
	}
	return nil, errMalformed
}

// issuerHashes are the CertID issuer fields of the one CA this responder
// answers for, per hash algorithm (RFC 6960 section 4.1.1: the hash of the
// issuer's DER-encoded Name and of the value, excluding tag and length, of
// its subjectPublicKey BIT STRING).
type issuerHashes struct {
	name, key [][]byte
}

func newIssuerHashes(issuer *x509.Certificate) (*issuerHashes, error) {
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(issuer.RawSubjectPublicKeyInfo, &spki); err != nil {
		return nil, err
	}
	ih := &issuerHashes{}
	for _, h := range hashes {
		nh := h.hash.New()
		nh.Write(issuer.RawSubject)
		kh := h.hash.New()
		kh.Write(spki.PublicKey.RightAlign())
		ih.name = append(ih.name, nh.Sum(nil))
		ih.key = append(ih.key, kh.Sum(nil))
	}
	return ih, nil
}

// match reports whether the request names our issuer. Both hashes must
// match: the name alone does not identify a CA across re-keying.
func (ih *issuerHashes) match(r *request) bool {
	return bytes.Equal(ih.name[r.alg], r.issuerNameHash) && bytes.Equal(ih.key[r.alg], r.issuerKeyHash)
}

// serialInRange reports whether serial could be one a conforming CA
// issued: RFC 5280 section 4.1.2.2 requires a positive integer of at most
// 20 octets. Signet's serials are 20 random bytes with the top bit clear.
func serialInRange(serial *big.Int) bool {
	return serial.Sign() > 0 && serial.BitLen() <= 160
}
