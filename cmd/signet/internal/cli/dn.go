package cli

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// attrNames are the RFC 4514 §3 short names, lower-cased as NPKI folder
// names write them, plus serialNumber and postalCode which Go also names.
var attrNames = map[string]string{
	"2.5.4.3":                    "cn",
	"2.5.4.5":                    "serialnumber",
	"2.5.4.6":                    "c",
	"2.5.4.7":                    "l",
	"2.5.4.8":                    "st",
	"2.5.4.9":                    "street",
	"2.5.4.10":                   "o",
	"2.5.4.11":                   "ou",
	"2.5.4.17":                   "postalcode",
	"0.9.2342.19200300.100.1.1":  "uid",
	"0.9.2342.19200300.100.1.25": "dc",
}

// NPKIDN renders a certificate's subject the way NPKI software names its
// folder: RFC 4514 (most specific RDN first, the certificate's own RDN
// order kept) with lower-case attribute names and a lower-case country, e.g.
// `cn=홍길동()0880012345678901,ou=KB,ou=personal4IB,o=Signet,c=kr`.
func NPKIDN(rawSubject []byte) (string, error) {
	var rdns pkix.RDNSequence
	rest, err := asn1.Unmarshal(rawSubject, &rdns)
	if err != nil || len(rest) > 0 {
		return "", errors.New("the certificate's subject is not a valid DER name")
	}
	var b strings.Builder
	for i := len(rdns) - 1; i >= 0; i-- {
		if i < len(rdns)-1 {
			b.WriteByte(',')
		}
		for j, atv := range rdns[i] {
			if j > 0 {
				b.WriteByte('+')
			}
			name, ok := attrNames[atv.Type.String()]
			if !ok {
				name = atv.Type.String()
			}
			b.WriteString(name)
			b.WriteByte('=')
			s, isString := atv.Value.(string)
			switch {
			case !isString:
				// RFC 4514 §2.4: values that are not strings are written
				// as '#' and the hex of their BER (here DER) encoding.
				der, err := asn1.Marshal(atv.Value)
				if err != nil {
					return "", fmt.Errorf("the certificate's subject has an unreadable %s value", name)
				}
				b.WriteString("#" + hex.EncodeToString(der))
			case name == "c":
				b.WriteString(escapeDNValue(strings.ToLower(s)))
			default:
				b.WriteString(escapeDNValue(s))
			}
		}
	}
	return b.String(), nil
}

// escapeDNValue escapes an attribute value per RFC 4514 §2.4.
func escapeDNValue(s string) string {
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == 0:
			b.WriteString(`\00`)
			continue
		case strings.ContainsRune(`,+"\<>;`, r),
			i == 0 && (r == ' ' || r == '#'),
			i == len(s)-1 && r == ' ':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
