package devicecopy

import (
	"encoding/binary"
	"errors"
)

// Package is what one device hands the other: the NPKI files of one
// joint certificate (see npki/doc.go for the on-disk layout).
type Package struct {
	// Certificate is signCert.der.
	Certificate []byte
	// PrivateKey is signPri.key exactly as stored: a DER PKCS#8
	// EncryptedPrivateKeyInfo still under the person's certificate
	// password. The copy never decrypts it.
	PrivateKey []byte
	// Chain holds the issuing CA certificates, DER, issuer first.
	Chain [][]byte
}

// Limits on what a receiver will decode. A joint certificate, its key file
// and a chain are a few kilobytes; the bounds only stop a hostile sender
// from making the receiver allocate without end.
const (
	maxPackageSize = 1 << 20
	maxChainLen    = 8
)

const packageVersion = 1

var errPackage = errors.New("devicecopy: malformed package")

// Validate refuses a package the receiver could not install. Parsing the
// DER is left to the importer, which must verify the chain anyway.
func (p *Package) Validate() error {
	switch {
	case p == nil || len(p.Certificate) == 0:
		return errors.New("devicecopy: package has no certificate (signCert.der)")
	case len(p.PrivateKey) == 0:
		return errors.New("devicecopy: package has no key file (signPri.key)")
	case len(p.Chain) > maxChainLen:
		return errors.New("devicecopy: package chain longer than 8 certificates")
	}
	for _, c := range p.Chain {
		if len(c) == 0 {
			return errors.New("devicecopy: package chain has an empty certificate")
		}
	}
	if p.size() > maxPackageSize {
		return errors.New("devicecopy: package larger than 1 MiB")
	}
	return nil
}

func (p *Package) size() int {
	n := 1 + 3*binary.MaxVarintLen32 + len(p.Certificate) + len(p.PrivateKey)
	for _, c := range p.Chain {
		n += binary.MaxVarintLen32 + len(c)
	}
	return n
}

// marshal encodes version || lv(Certificate) || lv(PrivateKey) ||
// uvarint(len(Chain)) || lv(Chain[i])..., lengths as uvarints.
func (p *Package) marshal() []byte {
	b := make([]byte, 0, p.size())
	b = append(b, packageVersion)
	b = appendLV(b, p.Certificate)
	b = appendLV(b, p.PrivateKey)
	b = binary.AppendUvarint(b, uint64(len(p.Chain)))
	for _, c := range p.Chain {
		b = appendLV(b, c)
	}
	return b
}

func appendLV(b, v []byte) []byte {
	return append(binary.AppendUvarint(b, uint64(len(v))), v...)
}

// unmarshalPackage is the strict inverse of marshal: it refuses unknown
// versions, short fields and trailing bytes, then runs Validate.
func unmarshalPackage(b []byte) (*Package, error) {
	if len(b) == 0 || b[0] != packageVersion || len(b) > maxPackageSize {
		return nil, errPackage
	}
	b = b[1:]
	var p Package
	var err error
	if p.Certificate, b, err = readLV(b); err != nil {
		return nil, err
	}
	if p.PrivateKey, b, err = readLV(b); err != nil {
		return nil, err
	}
	n, k := binary.Uvarint(b)
	if k <= 0 || n > maxChainLen {
		return nil, errPackage
	}
	b = b[k:]
	if n > 0 {
		p.Chain = make([][]byte, n)
	}
	for i := range p.Chain {
		if p.Chain[i], b, err = readLV(b); err != nil {
			return nil, err
		}
	}
	if len(b) != 0 {
		return nil, errPackage
	}
	return &p, p.Validate()
}

func readLV(b []byte) (v, rest []byte, err error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) {
		return nil, nil, errPackage
	}
	b = b[k:]
	return append([]byte(nil), b[:n]...), b[n:], nil
}
