package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"software.sslmate.com/src/go-pkcs12"

	"github.com/signet-ca/signet/cmd/signet/internal/cli"
	"github.com/signet-ca/signet/npki"
	signetv1 "github.com/signet-ca/signet/proto/signet/v1"
)

// Moving a certificate between devices (내보내기/가져오기): a PKCS#12 file
// that other software imports, or a copy of the NPKI folder on a USB drive.
// Every import proves the pair and the chain before it writes anything, and
// asks the server whether the certificate is still worth having.

// now is the CLI's clock for expiry checks; tests move it.
var now = time.Now

// pfxIterations is the PBKDF2 and MAC iteration count of exported PKCS#12
// files: the pkcs12.Modern profile's 2048 is low for a password a person
// chose, so the key-file count is used. A variable only for the tests.
var pfxIterations = npki.PBKDF2Iterations

func runExport(ctx context.Context, e *cli.Env, args []string) error {
	fs := cli.NewFlagSet(e, "export", "--cert DIR --password-file F (--pfx FILE | --npki PATH [--legacy]) [--new-password-file F]")
	var dir, passwordFile, newPasswordFile, pfxPath, npkiPath string
	var legacy bool
	fs.StringVar(&dir, "cert", "", "NPKI certificate `folder` to export")
	fs.StringVar(&passwordFile, "password-file", "", "`file` whose first line is the certificate password")
	fs.StringVar(&newPasswordFile, "new-password-file", "", "`file` with a different password for the exported copy (default: the same password)")
	fs.StringVar(&pfxPath, "pfx", "", "write a PKCS#12 `file` (AES-256, PBKDF2-SHA256, SHA-256 MAC) with the chain")
	fs.StringVar(&npkiPath, "npki", "", "write the NPKI folder layout under `PATH` (e.g. a USB drive): PATH/NPKI/<CA>/USER/<DN>/")
	fs.BoolVar(&legacy, "legacy", false, "with --npki: encrypt signPri.key with SEED-CBC for older Korean software (default AES-256)")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	switch {
	case dir == "":
		return cli.UsageErr(fs, "--cert is required: the NPKI certificate folder to export")
	case (pfxPath == "") == (npkiPath == ""):
		return cli.UsageErr(fs, "give exactly one of --pfx FILE or --npki PATH")
	case legacy && npkiPath == "":
		return cli.UsageErr(fs, "--legacy applies to --npki only: a PKCS#12 file is always AES-256")
	}
	pw, outPW, err := transferPasswords(fs, passwordFile, newPasswordFile)
	if err != nil {
		return err
	}
	dir = certDir(dir)
	cert, key, err := loadKey(dir, pw)
	if err != nil {
		return err
	}

	if npkiPath != "" {
		scheme := npki.PBES2AES
		if legacy {
			scheme = npki.PBES2SEED
		}
		dest, err := certFolder(npkiHome(npkiPath), cert)
		if err != nil {
			return err
		}
		if samePath(dest, dir) {
			return cli.UsageErr(fs, "--npki %s is where the certificate already is: give another folder", npkiPath)
		}
		if err := writeNPKI(dest, cert, key, outPW, scheme); err != nil {
			return err
		}
		fmt.Fprintf(e.Stdout, "exported %s to %s (%s)\n", dir, dest, scheme)
		return nil
	}

	// The chain goes into the file so that the importing side can check it
	// without asking anyone: the trust anchor and any intermediates from
	// --ca-file, else the issuer chain the server keeps.
	chain, err := verifyChain(cert, e.G.CAFile, nil, now())
	if err != nil {
		var rec *signetv1.Certificate
		if rec, err = serverRecord(ctx, e, cert); err == nil {
			chain, err = verifyChain(cert, e.G.CAFile, parseChain(rec), now())
		}
		if err != nil {
			return fmt.Errorf("cannot include the certificate chain: %w", err)
		}
	}
	// npki writes the PFX itself: the key bag keeps randomNum, without
	// which the holder could not prove identity (the VID) after an import.
	pfx, err := key.EncodePFX(cert, chain, outPW, pfxIterations)
	if err != nil {
		return fmt.Errorf("encoding the PKCS#12 file: %w", err)
	}
	if err := writeNew(pfxPath, pfx); err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "exported %s to %s (PKCS#12, %d chain certificates)\n", dir, pfxPath, len(chain))
	return nil
}

func runImport(ctx context.Context, e *cli.Env, args []string) error {
	fs := cli.NewFlagSet(e, "import", "(--pfx FILE | --npki PATH) --password-file F [--new-password-file F] [--legacy] [--force]")
	var passwordFile, newPasswordFile, pfxPath, npkiPath string
	var legacy, force bool
	fs.StringVar(&pfxPath, "pfx", "", "PKCS#12 `file` to import")
	fs.StringVar(&npkiPath, "npki", "", "NPKI `folder` to import: a certificate folder (…/NPKI/<CA>/USER/<DN>), or an NPKI folder or the folder holding it with exactly one certificate")
	fs.StringVar(&passwordFile, "password-file", "", "`file` whose first line is the password of the PKCS#12 file or key")
	fs.StringVar(&newPasswordFile, "new-password-file", "", "`file` with a new password for the imported signPri.key (default: the same password)")
	fs.BoolVar(&legacy, "legacy", false, "encrypt the imported signPri.key with SEED-CBC for older Korean software (default AES-256)")
	fs.BoolVar(&force, "force", false, "import a revoked, expired or unknown certificate, or one whose status cannot be checked")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if (pfxPath == "") == (npkiPath == "") {
		return cli.UsageErr(fs, "give exactly one of --pfx FILE or --npki PATH")
	}
	if e.G.Home == "" {
		return cli.UsageErr(fs, "--home is required: the folder that holds (or will hold) NPKI")
	}
	pw, outPW, err := transferPasswords(fs, passwordFile, newPasswordFile)
	if err != nil {
		return err
	}

	var (
		cert    *x509.Certificate
		key     *npki.Key
		bundled []*x509.Certificate
		source  string
	)
	if pfxPath != "" {
		if cert, key, bundled, err = readPFX(pfxPath, pw); err != nil {
			return err
		}
	} else {
		if source, err = npkiSource(npkiPath); err != nil {
			return err
		}
		if cert, key, err = loadKey(source, pw); err != nil {
			return err
		}
	}
	rec, err := importable(ctx, e, cert, force)
	if err != nil {
		return err
	}
	// For an expired certificate that --force lets through, the chain is
	// checked as it stood on its last valid day.
	at := now()
	if at.After(cert.NotAfter) {
		at = cert.NotAfter
	}
	if _, err := verifyChain(cert, e.G.CAFile, append(bundled, parseChain(rec)...), at); err != nil {
		return err
	}

	dest, err := certFolder(e.G.Home, cert)
	if err != nil {
		return err
	}
	if source != "" && samePath(dest, source) {
		return cli.UsageErr(fs, "%s is already where --home keeps it: nothing to import", source)
	}
	scheme := npki.PBES2AES
	if legacy {
		scheme = npki.PBES2SEED
	}
	if err := writeNPKI(dest, cert, key, outPW, scheme); err != nil {
		return err
	}
	fmt.Fprintf(e.Progress(), "imported into %s (%s)\n", dest, scheme)
	return cli.PrintView(e.Stdout, e.G.JSON, cli.ViewOf(rec, cert, dest))
}

// transferPasswords reads the password of the source and the one for the
// copy. The copy's password must meet the enrollment rule: a copy is a new
// key file, and a PKCS#12 file travels by e-mail and USB.
func transferPasswords(fset *flag.FlagSet, passwordFile, newPasswordFile string) (pw, outPW []byte, err error) {
	if pw, err = readPassword(passwordFile); err != nil {
		return nil, nil, cli.UsageErr(fset, "%v", err)
	}
	if newPasswordFile != "" {
		if outPW, err = newPassword(newPasswordFile); err != nil {
			return nil, nil, cli.UsageErr(fset, "--new-%v", strings.TrimPrefix(err.Error(), "--"))
		}
		return pw, outPW, nil
	}
	if err := npki.CheckPassword(string(pw)); err != nil {
		return nil, nil, cli.UsageErr(fset, "the certificate password is too weak for a new copy (%v): give a stronger one with --new-password-file", err)
	}
	return pw, pw, nil
}

// loadKey reads and decrypts a folder's key in any scheme npki reads and
// checks that it belongs to the folder's certificate.
func loadKey(dir string, password []byte) (*x509.Certificate, *npki.Key, error) {
	certDER, encKey, err := npki.Read(dir)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(certDER)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %s is not a DER certificate: %w", dir, npki.CertFile, err)
	}
	key, err := npki.OpenKey(encKey, password)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", filepath.Join(dir, npki.KeyFile), err)
	}
	if !sameKey(cert, key.Signer) {
		return nil, nil, fmt.Errorf("%s: %s and %s do not belong together: restore the matching pair (a renewal leaves the previous pair as .old files)",
			dir, npki.KeyFile, npki.CertFile)
	}
	return cert, key, nil
}

// readPFX decodes a PKCS#12 file and checks that its key and certificate
// belong together.
func readPFX(path string, password []byte) (*x509.Certificate, *npki.Key, []*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("--pfx: %w", err)
	}
	priv, cert, chain, err := pkcs12.DecodeChain(data, string(password))
	if err != nil {
		if errors.Is(err, pkcs12.ErrIncorrectPassword) || errors.Is(err, pkcs12.ErrDecryption) {
			return nil, nil, nil, fmt.Errorf("--pfx %s: wrong password (or the file is corrupt): check --password-file", path)
		}
		return nil, nil, nil, fmt.Errorf("--pfx %s: not a PKCS#12 file this tool reads: %w", path, err)
	}
	signer, ok := priv.(crypto.Signer)
	if !ok {
		return nil, nil, nil, fmt.Errorf("--pfx %s: the key (%T) cannot sign", path, priv)
	}
	key := &npki.Key{Signer: signer}
	if !sameKey(cert, key.Signer) {
		return nil, nil, nil, fmt.Errorf("--pfx %s: the private key does not belong to the certificate %s", path, cert.SerialNumber.Text(16))
	}
	// go-pkcs12 has checked the MAC and read the key, but not its PKCS#8
	// attributes: the VID's randomNum is read from the key bag again.
	if key.RandomNum, err = npki.PFXRandomNum(data, password); err != nil {
		return nil, nil, nil, fmt.Errorf("--pfx %s: reading the key's randomNum (R, for identity checks): %w", path, err)
	}
	return cert, key, chain, nil
}

// npkiSource finds the one certificate folder an --npki PATH names.
func npkiSource(path string) (string, error) {
	if fi, err := os.Stat(filepath.Join(path, npki.CertFile)); err == nil && fi.Mode().IsRegular() {
		return path, nil
	}
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("--npki: %w", err)
	}
	dirs, err := npki.List(npkiHome(path))
	if err != nil {
		return "", err
	}
	switch len(dirs) {
	case 0:
		return "", fmt.Errorf("--npki %s: no certificate found (looked for NPKI/<CA>/USER/<DN>/%s)", path, npki.CertFile)
	case 1:
		return dirs[0], nil
	}
	return "", fmt.Errorf("--npki %s holds %d certificates: give the folder of one of them:\n  %s", path, len(dirs), strings.Join(dirs, "\n  "))
}

// npkiHome is the folder that holds NPKI: PATH itself, or its parent when
// PATH is the NPKI folder.
func npkiHome(path string) string {
	if filepath.Base(filepath.Clean(path)) == "NPKI" {
		return filepath.Dir(filepath.Clean(path))
	}
	return path
}

// importable asks the server for the certificate's record and refuses,
// unless forced, a certificate that is revoked, expired, unknown to the
// server or whose status cannot be learnt. A record that disagrees with
// the certificate is refused even when forced: it is not this CA's.
func importable(ctx context.Context, e *cli.Env, cert *x509.Certificate, force bool) (*signetv1.Certificate, error) {
	return worthKeeping(ctx, e, cert, force, "import")
}

// worthKeeping is importable for any way a certificate arrives; verb
// ("import", "save") names it in the messages.
func worthKeeping(ctx context.Context, e *cli.Env, cert *x509.Certificate, force bool, verb string) (*signetv1.Certificate, error) {
	done := map[string]string{"import": "imported", "save": "saved"}[verb]
	serial := cert.SerialNumber.Text(16)
	refuse := func(format string, a ...any) error {
		msg := fmt.Sprintf(format, a...)
		if force {
			fmt.Fprintf(e.Stderr, "signet: warning: %s; %sing anyway (--force)\n", msg, strings.TrimSuffix(verb, "e"))
			return nil
		}
		return fmt.Errorf("%s: not %s (--force %ss it anyway)", msg, done, verb)
	}
	t := now()
	switch {
	case t.After(cert.NotAfter):
		if err := refuse("certificate %s expired on %s", serial, cli.RFC3339(cert.NotAfter)); err != nil {
			return nil, err
		}
	case t.Before(cert.NotBefore):
		if err := refuse("certificate %s is valid only from %s (check this computer's clock)", serial, cli.RFC3339(cert.NotBefore)); err != nil {
			return nil, err
		}
	}
	rec, err := serverRecord(ctx, e, cert)
	if err != nil {
		if status.Code(err) == codes.NotFound {
			return nil, refuse("certificate %s was not issued by the CA at --server %s", serial, e.G.Server)
		}
		return nil, refuse("cannot check the status of certificate %s (%s)", serial, cli.ErrorText(err, e.G))
	}
	if len(rec.GetDer()) > 0 && !bytes.Equal(rec.GetDer(), cert.Raw) {
		return nil, fmt.Errorf("the server's certificate %s is not this one: the file comes from another CA or was altered; not %s", serial, done)
	}
	switch rec.GetStatus() {
	case signetv1.CertificateStatus_CERTIFICATE_STATUS_REVOKED:
		err = refuse("certificate %s is revoked (%s)", serial, cli.ReasonName(rec.GetRevocationReason()))
	case signetv1.CertificateStatus_CERTIFICATE_STATUS_EXPIRED:
		err = refuse("certificate %s has expired", serial)
	case signetv1.CertificateStatus_CERTIFICATE_STATUS_SUSPENDED:
		fmt.Fprintf(e.Stderr, "signet: note: certificate %s is suspended; `signet resume` lifts the hold within 6 months\n", serial)
	}
	if err != nil {
		return nil, err
	}
	return rec, nil
}

// serverRecord is GetCertificate for cert, as `signet status` asks it.
func serverRecord(ctx context.Context, e *cli.Env, cert *x509.Certificate) (*signetv1.Certificate, error) {
	c, err := dial(e.G)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.getCertificate(ctx, cert.SerialNumber.Text(16))
}

// parseChain returns the issuer certificates of a server record; ones that
// do not parse are left out, and verifyChain then says what is missing.
func parseChain(rec *signetv1.Certificate) []*x509.Certificate {
	var out []*x509.Certificate
	for _, der := range rec.GetChain() {
		if c, err := x509.ParseCertificate(der); err == nil {
			out = append(out, c)
		}
	}
	return out
}

// verifyChain checks that cert leads to a self-signed certificate of
// --ca-file, the one trust anchor the CLI knows, through intermediates from
// --ca-file or extra. It returns the chain above cert.
func verifyChain(cert *x509.Certificate, caFile string, extra []*x509.Certificate, at time.Time) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("reading the trust anchor (--ca-file): %w", err)
	}
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	var anchors int
	for rest := data; ; {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			break
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if block.Type != "CERTIFICATE" || err != nil {
			continue
		}
		if bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignatureFrom(c) == nil {
			roots.AddCert(c)
			anchors++
		} else {
			inter.AddCert(c)
		}
	}
	if anchors == 0 {
		return nil, fmt.Errorf("--ca-file %s holds no root certificate: give Signet's root.pem", caFile)
	}
	for _, c := range extra {
		inter.AddCert(c)
	}
	chains, err := cert.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: at,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil {
		return nil, fmt.Errorf("certificate %s does not lead to the trust anchor in --ca-file %s: %w", cert.SerialNumber.Text(16), caFile, err)
	}
	return chains[0][1:], nil
}

// writeNPKI encrypts key for a new copy and stores the pair in dest; a pair
// already there is kept as *.old.
func writeNPKI(dest string, cert *x509.Certificate, key *npki.Key, password []byte, scheme npki.Scheme) error {
	enc, err := key.Seal(password, scheme)
	if err != nil {
		return fmt.Errorf("encrypting the key: %w", err)
	}
	if err := os.MkdirAll(dest, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", dest, err)
	}
	return saveCertificate(dest, cert.Raw, enc)
}

// writeNew writes a file that must not exist yet: an export never replaces
// something the user may still need.
func writeNew(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("--pfx: %w (an export does not overwrite files)", err)
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		_ = os.Remove(path)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		_ = os.Remove(path)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return f.Close()
}

// samePath reports whether a and b name the same folder.
func samePath(a, b string) bool {
	fa, errA := os.Stat(a)
	fb, errB := os.Stat(b)
	if errA == nil && errB == nil {
		return os.SameFile(fa, fb)
	}
	return filepath.Clean(a) == filepath.Clean(b)
}
