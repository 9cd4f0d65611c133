package main

import (
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/signet-ca/signet/npki"
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

// npkiDN renders a certificate's subject the way NPKI software names its
// folder: RFC 4514 (most specific RDN first, the certificate's own RDN
// order kept) with lower-case attribute names and a lower-case country, e.g.
// `cn=홍길동()0880012345678901,ou=KB,ou=personal4IB,o=Signet,c=kr`.
func npkiDN(rawSubject []byte) (string, error) {
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

// caName is the NPKI folder of the issuing CA: the issuer's O= value, as
// Korean software files yessign certificates under NPKI/yessign.
func caName(cert *x509.Certificate) string {
	for _, o := range cert.Issuer.Organization {
		if o != "" {
			return o
		}
	}
	return "Signet"
}

// certFolder is where a certificate belongs under home.
func certFolder(home string, cert *x509.Certificate) (string, error) {
	dn, err := npkiDN(cert.RawSubject)
	if err != nil {
		return "", err
	}
	return npki.Dir(home, caName(cert), dn), nil
}

// certDir accepts --cert as the folder or as the signCert.der inside it.
func certDir(path string) string {
	if fi, err := os.Stat(path); err == nil && !fi.IsDir() {
		return filepath.Dir(path)
	}
	return path
}

// loadCert reads the certificate of an NPKI folder. It needs no password,
// so status and list work without one.
func loadCert(dir string) (*x509.Certificate, error) {
	der, err := os.ReadFile(filepath.Join(dir, npki.CertFile))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s has no %s: give an NPKI certificate folder (see `signet list`)", dir, npki.CertFile)
		}
		return nil, fmt.Errorf("reading the certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("%s: %s is not a DER certificate: %w", dir, npki.CertFile, err)
	}
	return cert, nil
}

// loadKeyPair reads and decrypts a folder's key and checks that it belongs
// to the folder's certificate, so that a proof is never signed with a
// mismatched pair the server would refuse anyway.
func loadKeyPair(dir string, password []byte) (*x509.Certificate, crypto.Signer, error) {
	certDER, encKey, err := npki.Read(dir)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(certDER)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %s is not a DER certificate: %w", dir, npki.CertFile, err)
	}
	key, err := npki.DecryptPKCS8(encKey, password)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", filepath.Join(dir, npki.KeyFile), err)
	}
	if !sameKey(cert, key) {
		return nil, nil, fmt.Errorf("%s: %s and %s do not belong together: restore the matching pair (a renewal leaves the previous pair as .old files)",
			dir, npki.KeyFile, npki.CertFile)
	}
	return cert, key, nil
}

// backupSuffix marks the previous pair kept when a folder is overwritten.
const backupSuffix = ".old"

// saveCertificate writes a new certificate and its encrypted key into dir.
// A pair already there is first copied to *.old: npki.Write replaces the two
// files one after the other, and a crash in between would otherwise leave
// a key and certificate that do not match and no way back.
func saveCertificate(dir string, certDER, encKey []byte) error {
	for _, name := range []string{npki.CertFile, npki.KeyFile} {
		old, err := os.ReadFile(filepath.Join(dir, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("keeping the previous %s: %w", name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+backupSuffix), old, 0o600); err != nil {
			return fmt.Errorf("keeping the previous %s: %w", name, err)
		}
	}
	return npki.Write(dir, certDER, encKey)
}

// saveIssued stores a certificate the server has just issued. If the NPKI
// folder cannot be written, the pair goes to a new temporary folder instead:
// the certificate exists now, and losing its key would force a reissue.
func saveIssued(dir string, certDER, encKey []byte) error {
	werr := saveCertificate(dir, certDER, encKey)
	if werr == nil {
		return nil
	}
	rescue, err := os.MkdirTemp("", "signet-rescue-")
	if err == nil {
		err = npki.Write(rescue, certDER, encKey)
	}
	if err != nil {
		return fmt.Errorf("the certificate was issued but could not be saved (%v), nor kept in a temporary folder (%v): run `signet reissue`", werr, err)
	}
	return fmt.Errorf("the certificate was issued but %s could not be written (%v): the certificate and encrypted key are in %s; move both files there to %s",
		dir, werr, rescue, dir)
}

// checkWritable fails early, before the server issues anything, when dir
// (created if missing) does not take new files.
func checkWritable(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("cannot create %s (--home): %w", dir, err)
	}
	f, err := os.CreateTemp(dir, ".signet-write-test-*")
	if err != nil {
		return fmt.Errorf("cannot write in %s (--home): %w", dir, err)
	}
	name := f.Name()
	_ = f.Close()
	return os.Remove(name)
}

// folderOf finds the local folder of a serial, for saying where the
// certificate a reissue replaced still lies. It returns "" when none.
func folderOf(home, serial string) string {
	dirs, err := npki.List(home)
	if err != nil {
		return ""
	}
	for _, d := range dirs {
		if c, err := loadCert(d); err == nil && c.SerialNumber.Text(16) == serial {
			return d
		}
	}
	return ""
}
