package main

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/signet-ca/signet/ca/proof"
	"github.com/signet-ca/signet/cmd/signet/internal/cli"
	"github.com/signet-ca/signet/npki"
	signetv1 "github.com/signet-ca/signet/proto/signet/v1"
)

// The gRPC methods a proof is bound to (ca.MethodRenew, ca.MethodRevoke),
// so that a renewal proof cannot be replayed as a revocation.
const (
	methodRenew   = "/signet.v1.EnrollmentService/RenewCertificate"
	methodRevoke  = "/signet.v1.EnrollmentService/RevokeCertificate"
	methodSuspend = "/signet.v1.EnrollmentService/SuspendCertificate"
	methodResume  = "/signet.v1.EnrollmentService/ResumeCertificate"
)

// runRenew is 갱신: the current key signs a proof bound to a new key's
// request, and the renewed certificate replaces the pair in the same folder.
func runRenew(ctx context.Context, e *cli.Env, args []string) error {
	fs := cli.NewFlagSet(e, "renew", "--cert DIR --idn-file F --password-file F [--key T]")
	var dir, passwordFile, keyType, audience string
	var idnf idnFlags
	idnf.register(fs)
	fs.StringVar(&dir, "cert", "", "NPKI certificate `folder` (holding signCert.der and signPri.key)")
	fs.StringVar(&passwordFile, "password-file", "", "`file` whose first line is the certificate password; the new key gets the same password")
	fs.StringVar(&keyType, "key", defaultKeyType, "new key `type`: "+keyTypeList)
	fs.StringVar(&audience, "audience", "", "the server's proof `audience` (default: asked from the server)")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if dir == "" {
		return cli.UsageErr(fs, "--cert is required: the certificate's NPKI folder (see `signet list`)")
	}
	if err := checkKeyType(keyType); err != nil {
		return cli.UsageErr(fs, "%v", err)
	}
	// The new key is written under the same password, so the password
	// rule applies as for a new certificate.
	pw, err := newPassword(passwordFile)
	if err != nil {
		return cli.UsageErr(fs, "%v", err)
	}
	idn, err := idnf.value()
	if err != nil {
		return cli.UsageErr(fs, "%v", err)
	}
	dir = certDir(dir)
	cert, old, err := loadKey(dir, pw)
	if err != nil {
		return err
	}
	key := old.Signer
	if err := checkWritable(dir); err != nil {
		return err
	}
	newKey, csr, err := newKeyAndCSR(keyType, renewalRequest(cert))
	if err != nil {
		return err
	}
	// The new key gets a new R; the old R proves the number against the
	// current certificate's VID.
	r, err := newRandomNum()
	if err != nil {
		return err
	}
	encKey, err := sealWithRandom(newKey, r, pw)
	if err != nil {
		return err
	}

	c, err := dial(e.G)
	if err != nil {
		return err
	}
	defer c.Close()
	serial := proof.SerialHex(cert)
	aud, err := c.audience(ctx, audience, serial)
	if err != nil {
		return err
	}
	token, err := proof.Sign(cert, key, proof.Claims{Audience: aud, Method: methodRenew, Binding: proof.BindCSR(csr)})
	if err != nil {
		return err
	}
	requestID := uuid.NewString()
	resp, err := cli.Retry(ctx, c.timeout, func(ctx context.Context) (*signetv1.RenewCertificateResponse, error) {
		return c.enroll.RenewCertificate(ctx, &signetv1.RenewCertificateRequest{RequestId: requestID, Csr: csr, Proof: token,
			Holder: holderIdentity(idn, r, old.RandomNum)})
	})
	if err != nil {
		return err
	}
	v, err := saveNew(e, resp.GetCertificate(), newKey, encKey, dir)
	if err != nil {
		return err
	}
	v.ReplacedSerial = serial
	if r := cli.NormalSerial(resp.GetReplacedSerial()); r != "" {
		v.ReplacedSerial = r
	}
	fmt.Fprintf(e.Progress(), "renewed: the previous pair is kept as %s%s and %s%s in the same folder\n",
		npki.CertFile, backupSuffix, npki.KeyFile, backupSuffix)
	return cli.PrintView(e.Stdout, e.G.JSON, v)
}
