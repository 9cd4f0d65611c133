package main

import (
	"context"
	"errors"
	"fmt"

	identifydata "github.com/signet-ca/signet/ca/identity"
	"github.com/signet-ca/signet/cmd/signet/internal/cli"
)

// runVerifyID is what a relying bank does with a joint certificate and a
// resident number (본인확인): recompute the VID from the number and the R
// in signPri.key and compare it with the certificate's identifyData. It
// needs no server: the certificate carries everything but idn and R.
func runVerifyID(_ context.Context, e *cli.Env, args []string) error {
	fs := cli.NewFlagSet(e, "verify-id", "--cert DIR --idn-file F --password-file F")
	var dir, passwordFile string
	var idnf idnFlags
	fs.StringVar(&dir, "cert", "", "NPKI certificate `folder` (holding signCert.der and signPri.key)")
	fs.StringVar(&passwordFile, "password-file", "", "`file` whose first line is the certificate password (R is inside the encrypted key)")
	idnf.register(fs)
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if dir == "" {
		return cli.UsageErr(fs, "--cert is required: the certificate's NPKI folder (see `signet list`)")
	}
	cert, key, idn, err := holderKey(fs, dir, passwordFile, &idnf)
	if err != nil {
		return err
	}
	d, err := identifydata.FromCertificate(cert)
	if err == nil {
		err = d.Match(idn, key.RandomNum)
	}
	switch {
	case errors.Is(err, identifydata.ErrNoIdentifyData):
		return errors.New("the certificate carries no identifyData (VID): it was issued without one, so identity cannot be proved with it")
	case errors.Is(err, identifydata.ErrMismatch):
		return errors.New("NOT the holder: the resident number and this key file's R do not give the certificate's VID")
	case err != nil:
		return err
	}
	if e.G.JSON {
		return cli.WriteJSON(e.Stdout, map[string]any{"verified": true, "real_name": d.RealName, "subject": cert.Subject.String()})
	}
	fmt.Fprintf(e.Stdout, "verified: the VID matches; the certificate belongs to %s (%s)\n", d.RealName, cert.Subject)
	return nil
}
