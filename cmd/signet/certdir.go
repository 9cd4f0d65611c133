package main

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/signet-ca/signet/cmd/signet/internal/cli"
	"github.com/signet-ca/signet/npki"
)

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
	dn, err := cli.NPKIDN(cert.RawSubject)
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
	cert, key, err := loadKey(dir, password)
	if err != nil {
		return nil, nil, err
	}
	return cert, key.Signer, nil
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
