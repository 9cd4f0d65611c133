package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/google/uuid"

	"github.com/signet-ca/signet/ca/proof"
	signetv1 "github.com/signet-ca/signet/proto/signet/v1"
)

// revokeFlags select one of two authorizations (DESIGN.md, "Revoke"): the
// holder's key (--cert with --password-file), or fresh identity checks
// when the key is lost (--serial, or --cert for just the serial, with the
// identity flags).
type revokeFlags struct {
	dir, serial, passwordFile, reason, profile, audience string
	id                                                   identity
}

func runRevoke(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "revoke", "--cert DIR --password-file F --reason R\n   or: signet revoke --serial HEX --reason R --name N --birth YYYYMMDD --phone 010... --carrier SKT --bank 004 --account NUM [--profile P]")
	var f revokeFlags
	fs.StringVar(&f.dir, "cert", "", "NPKI certificate `folder` of the certificate to revoke")
	fs.StringVar(&f.serial, "serial", "", "`serial` (hex) of the certificate to revoke, when its folder is gone")
	fs.StringVar(&f.passwordFile, "password-file", "", "`file` whose first line is the certificate password (revoke with the key)")
	fs.StringVar(&f.reason, "reason", "", "RFC 5280 `reason`: "+subscriberReasonList())
	fs.StringVar(&f.profile, "profile", "", "the certificate's `profile` (default: asked from the server)")
	fs.StringVar(&f.audience, "audience", "", "the server's proof `audience` (default: asked from the server)")
	f.id.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	reason, err := parseReason(f.reason)
	if err != nil {
		return usageErr(fs, "%v", err)
	}
	switch {
	case f.dir == "" && f.serial == "":
		return usageErr(fs, "give --cert DIR (the certificate's folder) or --serial HEX")
	case f.dir != "" && f.serial != "":
		return usageErr(fs, "give --cert or --serial, not both")
	case f.passwordFile != "" && f.dir == "":
		return usageErr(fs, "--password-file needs --cert: revoking with the key reads the key from the certificate's folder")
	case f.passwordFile != "" && f.id.given():
		return usageErr(fs, "give either --password-file (you have the key) or the identity flags (the key is lost), not both")
	}
	if f.passwordFile != "" {
		return revokeWithKey(ctx, e, &f, reason)
	}
	if !f.id.given() {
		return usageErr(fs, "to revoke without the key, prove your identity with --name, --birth, --phone, --carrier, --bank and --account; with the key, give --password-file")
	}
	if err := f.id.validate(); err != nil {
		return usageErr(fs, "%v", err)
	}
	var cert *x509.Certificate
	if f.dir != "" {
		f.dir = certDir(f.dir)
		if cert, err = loadCert(f.dir); err != nil {
			return err
		}
		f.serial = cert.SerialNumber.Text(16)
	} else if f.serial, err = checkSerial(f.serial); err != nil {
		return usageErr(fs, "%v", err)
	}
	return revokeWithIdentity(ctx, e, &f, reason, cert)
}

// revokeWithKey signs a proof with the certificate's key, bound to the
// reason, so that a captured proof cannot revoke for another reason.
func revokeWithKey(ctx context.Context, e *env, f *revokeFlags, reason signetv1.RevocationReason) error {
	pw, err := readPassword(f.passwordFile)
	if err != nil {
		return err
	}
	f.dir = certDir(f.dir)
	cert, key, err := loadKeyPair(f.dir, pw)
	if err != nil {
		return err
	}
	c, err := dial(e.g)
	if err != nil {
		return err
	}
	defer c.Close()
	serial := proof.SerialHex(cert)
	aud, err := c.audience(ctx, f.audience, serial)
	if err != nil {
		return err
	}
	token, err := proof.Sign(cert, key, proof.Claims{Audience: aud, Method: methodRevoke, Binding: proof.BindReason(reasonName(reason))})
	if err != nil {
		return err
	}
	return sendRevoke(ctx, e, c, cert, f.dir, &signetv1.RevokeCertificateRequest{
		Serial: serial, Reason: reason, Authorization: &signetv1.RevokeCertificateRequest_Proof{Proof: token}})
}

// revokeWithIdentity proves the holder's identity afresh. The enrollment
// must name the certificate's profile, which the server tells anyone.
func revokeWithIdentity(ctx context.Context, e *env, f *revokeFlags, reason signetv1.RevocationReason, cert *x509.Certificate) error {
	c, err := dial(e.g)
	if err != nil {
		return err
	}
	defer c.Close()
	if f.profile == "" {
		rec, err := c.getCertificate(ctx, f.serial)
		if err != nil {
			return wrapCall("looking up the certificate's profile", err)
		}
		f.profile = rec.GetProfile()
	}
	en, err := c.startEnrollment(ctx, f.profile, signetv1.EnrollmentPurpose_ENROLLMENT_PURPOSE_REVOKE)
	if err != nil {
		return err
	}
	ev, err := c.checkIdentity(ctx, &f.id, en.GetNonce(), e.progress())
	if err != nil {
		return err
	}
	return sendRevoke(ctx, e, c, cert, f.dir, &signetv1.RevokeCertificateRequest{
		Serial: f.serial, Reason: reason, Authorization: &signetv1.RevokeCertificateRequest_Identity{
			Identity: &signetv1.IdentityAuthorization{EnrollmentId: en.GetEnrollmentId(), Evidence: ev}}})
}

func sendRevoke(ctx context.Context, e *env, c *client, cert *x509.Certificate, dir string, req *signetv1.RevokeCertificateRequest) error {
	req.RequestId = uuid.NewString()
	resp, err := retry(ctx, c.timeout, func(ctx context.Context) (*signetv1.RevokeCertificateResponse, error) {
		return c.enroll.RevokeCertificate(ctx, req)
	})
	if err != nil {
		return err
	}
	v := viewOf(resp.GetCertificate(), cert, dir)
	if dir != "" {
		fmt.Fprintf(e.progress(), "revoked: %s still holds the revoked certificate; delete it when you no longer need it\n", dir)
	}
	return printView(e.stdout, e.g.json, v)
}

// checkSerial accepts a serial as people copy it (upper case, 0x, colons
// between bytes) and returns it as big.Int.Text(16).
func checkSerial(s string) (string, error) {
	t := strings.ReplaceAll(strings.TrimPrefix(strings.ToLower(strings.TrimSpace(s)), "0x"), ":", "")
	bad := t == "" || len(t) > 64 // a serial has at most 20 bytes; leave room for leading zeros
	for _, r := range t {
		if (r < '0' || r > '9') && (r < 'a' || r > 'f') {
			bad = true
		}
	}
	n, ok := new(big.Int).SetString(t, 16)
	if bad || !ok || n.Sign() == 0 {
		if s == "" {
			return "", errors.New("--serial is required")
		}
		return "", fmt.Errorf("--serial %q is not a certificate serial in hex: copy it from `signet list` or `signet status`", s)
	}
	return n.Text(16), nil
}
