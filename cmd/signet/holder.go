package main

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	identifydata "github.com/signet-ca/signet/ca/identity"
	"github.com/signet-ca/signet/cmd/signet/internal/cli"
	"github.com/signet-ca/signet/npki"
	signetv1 "github.com/signet-ca/signet/proto/signet/v1"
)

// idnFlags is the resident registration number (주민등록번호) that the
// certificate's VID is made from. A file is offered beside the flag
// because a number on the command line is kept in shell history and shown
// by ps.
type idnFlags struct{ idn, file string }

func (f *idnFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.idn, "idn", "", "resident registration `number` (13 digits), for the certificate's VID; prefer --idn-file")
	fs.StringVar(&f.file, "idn-file", "", "`file` whose first line is the resident registration number")
}

// value returns the number, checked, without ever putting it in a message.
func (f *idnFlags) value() (string, error) {
	idn := f.idn
	switch {
	case f.idn != "" && f.file != "":
		return "", errors.New("give --idn or --idn-file, not both")
	case f.file != "":
		b, err := os.ReadFile(f.file)
		if err != nil {
			return "", fmt.Errorf("--idn-file: %w", err)
		}
		idn, _, _ = strings.Cut(string(b), "\n")
	case f.idn == "":
		return "", errors.New("--idn or --idn-file is required: the resident registration number the certificate's VID is made from (it is sent to the CA over TLS and kept nowhere)")
	}
	idn = strings.ReplaceAll(strings.TrimSpace(idn), "-", "")
	if err := identifydata.CheckIDN(idn); err != nil {
		return "", fmt.Errorf("--idn: %s", strings.TrimPrefix(err.Error(), "identity: "))
	}
	return idn, nil
}

// newRandomNum makes the 20-byte R that stays in signPri.key.
func newRandomNum() ([]byte, error) {
	r := make([]byte, identifydata.RandomNumSize)
	if _, err := rand.Read(r); err != nil {
		return nil, err
	}
	return r, nil
}

// sealWithRandom encrypts key with its R as the NPKI randomNum attribute,
// in Signet's default scheme.
func sealWithRandom(key crypto.Signer, r, password []byte) ([]byte, error) {
	b, err := (&npki.Key{Signer: key, RandomNum: r}).Seal(password, npki.PBES2AES)
	if err != nil {
		return nil, fmt.Errorf("encrypting the new key: %w", err)
	}
	return b, nil
}

func holderIdentity(idn string, r, previous []byte) *signetv1.HolderIdentity {
	return &signetv1.HolderIdentity{Idn: idn, RandomNum: r, PreviousRandomNum: previous}
}

// holderKey is what proving a certificate's VID needs, checked before any
// server is asked: the resident number, the certificate and its opened key
// file, which must hold R.
func holderKey(fs *flag.FlagSet, dir, passwordFile string, idnf *idnFlags) (*x509.Certificate, *npki.Key, string, error) {
	idn, err := idnf.value()
	if err != nil {
		return nil, nil, "", cli.UsageErr(fs, "%v", err)
	}
	pw, err := readPassword(passwordFile)
	if err != nil {
		return nil, nil, "", cli.UsageErr(fs, "%v", err)
	}
	cert, key, err := loadKey(certDir(dir), pw)
	if err != nil {
		return nil, nil, "", err
	}
	if len(key.RandomNum) == 0 {
		return nil, nil, "", errors.New("the key file has no randomNum (R), so this certificate's VID cannot be proved from it: use the key file the certificate was issued with (a copy, an NPKI export and a PFX export keep R)")
	}
	return cert, key, idn, nil
}
