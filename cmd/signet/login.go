package main

import (
	"context"
	"fmt"
	"time"

	"github.com/signet-ca/signet/ca/proof"
	"github.com/signet-ca/signet/cmd/signet/internal/cli"
	signetv1 "github.com/signet-ca/signet/proto/signet/v1"
)

// methodLogin is the method a sign-in proof is bound to (ca/login.Method).
const methodLogin = "/signet.v1.AuthenticationService/Verify"

// runLogin does the device side of signing in with a certificate
// (인증서 로그인), as a bank's app would: ask for a challenge, sign it with
// the certificate's key, and show whom Signet says it is.
func runLogin(ctx context.Context, e *cli.Env, args []string) error {
	fs := cli.NewFlagSet(e, "login", "--cert DIR --password-file F")
	var dir, passwordFile string
	fs.StringVar(&dir, "cert", "", "NPKI certificate `folder` (holding signCert.der and signPri.key)")
	fs.StringVar(&passwordFile, "password-file", "", "`file` whose first line is the certificate password")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if dir == "" {
		return cli.UsageErr(fs, "--cert is required: the certificate's NPKI folder (see `signet list`)")
	}
	pw, err := readPassword(passwordFile)
	if err != nil {
		return cli.UsageErr(fs, "%v", err)
	}
	cert, key, err := loadKeyPair(certDir(dir), pw)
	if err != nil {
		return err
	}
	c, err := dial(e.G)
	if err != nil {
		return err
	}
	defer c.Close()
	auth := signetv1.NewAuthenticationServiceClient(c.conn)
	ch, err := cli.Retry(ctx, c.timeout, func(ctx context.Context) (*signetv1.ChallengeResponse, error) {
		return auth.Challenge(ctx, &signetv1.ChallengeRequest{})
	})
	if err != nil {
		return cli.WrapCall("asking for a sign-in challenge", err)
	}
	token, err := proof.Sign(cert, key, proof.Claims{Audience: ch.GetAudience(), Method: methodLogin, Binding: ch.GetChallenge()})
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	id, err := auth.Verify(cctx, &signetv1.VerifyRequest{ChallengeId: ch.GetChallengeId(), Proof: token})
	if err != nil {
		return cli.WrapCall("signing in", err)
	}
	if e.G.JSON {
		return cli.WriteJSON(e.Stdout, map[string]any{"subject_ref": id.GetSubjectRef(), "serial": id.GetSerial(),
			"profile": id.GetProfile(), "not_after": id.GetNotAfter().AsTime().Format(time.RFC3339), "registration": id.GetRegistration(),
			"registration_id": id.GetRegistrationId(), "trust_ca": id.GetTrustCa()})
	}
	kind := id.GetProfile()
	if kind == "" {
		kind = "from " + id.GetTrustCa() // another bank's certificate has no Signet profile
	}
	fmt.Fprintf(e.Stdout, "signed in as %s\ncertificate %s (%s), valid until %s, registration: %s %s (%s)\n", id.GetSubjectRef(),
		id.GetSerial(), kind, id.GetNotAfter().AsTime().Format(time.RFC3339), id.GetRegistration(), id.GetRegistrationId(), id.GetTrustCa())
	return nil
}
