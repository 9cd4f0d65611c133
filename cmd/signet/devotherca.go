package main

import (
	"context"
	"fmt"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/signet-ca/signet/cmd/signet/internal/cli"
	signetv1 "github.com/signet-ca/signet/proto/signet/v1"
)

// runDev holds the commands that only a `signetd --dev` server answers.
func runDev(ctx context.Context, e *cli.Env, args []string) error {
	if len(args) < 2 || args[0] != "other-ca" || (args[1] != "issue" && args[1] != "revoke") {
		return fmt.Errorf("usage: signet dev other-ca issue|revoke [flags]: the dev server's second CA, playing another bank's")
	}
	if args[1] == "issue" {
		return runOtherIssue(ctx, e, args[2:])
	}
	return runOtherRevoke(ctx, e, args[2:])
}

func devOnly(op string, err error) error {
	if status.Code(err) == codes.Unimplemented {
		return cli.WrapCall(op, status.Error(codes.Unimplemented, "this server has no dev other CA: start signetd with --dev"))
	}
	return cli.WrapCall(op, err)
}

// runOtherIssue gets a test certificate from the dev other CA: the key
// and its 20-byte R are made here and R stays in signPri.key, as a bank's
// app keeps it, so that `signet register` can prove the VID later.
func runOtherIssue(ctx context.Context, e *cli.Env, args []string) error {
	fs := cli.NewFlagSet(e, "dev other-ca issue", "--name N (--idn N | --idn-file F) --password-file F [--out DIR] [--bank 088] [--key T]")
	var name, out, bank, keyType, passwordFile string
	var idn idnFlags
	fs.StringVar(&name, "name", "", "the holder's real `name` (identifyData realName), e.g. 홍길동")
	fs.StringVar(&out, "out", "", "`folder` to write signCert.der and signPri.key into (default: the NPKI folder under --home)")
	fs.StringVar(&bank, "bank", "088", "3-digit bank `code` in the subject")
	fs.StringVar(&keyType, "key", defaultKeyType, "key `type`: "+keyTypeList)
	fs.StringVar(&passwordFile, "password-file", "", "`file` whose first line is the new certificate password")
	idn.register(fs)
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if strings.TrimSpace(name) == "" {
		return cli.UsageErr(fs, "--name is required")
	}
	if err := checkKeyType(keyType); err != nil {
		return cli.UsageErr(fs, "%v", err)
	}
	number, err := idn.value()
	if err != nil {
		return cli.UsageErr(fs, "%v", err)
	}
	pw, err := newPassword(passwordFile)
	if err != nil {
		return cli.UsageErr(fs, "%v", err)
	}
	key, csr, err := newKeyAndCSR(keyType, requestFor(name))
	if err != nil {
		return err
	}
	r, err := newRandomNum()
	if err != nil {
		return err
	}
	encKey, err := sealWithRandom(key, r, pw)
	if err != nil {
		return err
	}
	c, err := dial(e.G)
	if err != nil {
		return err
	}
	defer c.Close()
	dc := signetv1.NewDevOtherCAServiceClient(c.conn)
	resp, err := cli.Once(ctx, c.timeout, func(ctx context.Context) (*signetv1.IssueOtherCertificateResponse, error) {
		return dc.IssueOtherCertificate(ctx, &signetv1.IssueOtherCertificateRequest{Csr: csr, RealName: strings.TrimSpace(name), Bank: bank,
			HolderIdentity: &signetv1.HolderIdentity{Idn: number, RandomNum: r}})
	})
	if err != nil {
		return devOnly("issuing at the dev other CA", err)
	}
	cert, err := issuedCertificate(resp.GetCertificate(), key)
	if err != nil {
		return err
	}
	if out == "" {
		if out, err = certFolder(e.G.Home, cert); err != nil {
			return err
		}
	}
	if err := saveIssued(out, cert.Raw, encKey); err != nil {
		return err
	}
	v := cli.ViewOf(&signetv1.Certificate{Status: signetv1.CertificateStatus_CERTIFICATE_STATUS_ACTIVE}, cert, out)
	return cli.PrintView(e.Stdout, e.G.JSON, v)
}

// runOtherRevoke revokes a dev other CA certificate at that CA, as its
// bank would: Signet learns it only through the CA's OCSP and CRL.
func runOtherRevoke(ctx context.Context, e *cli.Env, args []string) error {
	fs := cli.NewFlagSet(e, "dev other-ca revoke", "--cert DIR [--reason keyCompromise]")
	var dir, reason string
	fs.StringVar(&dir, "cert", "", "NPKI `folder` of the other CA's certificate")
	fs.StringVar(&reason, "reason", "keyCompromise", "RFC 5280 `reason`: "+subscriberReasonList())
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if dir == "" {
		return cli.UsageErr(fs, "--cert is required")
	}
	code, err := parseReason(reason)
	if err != nil {
		return cli.UsageErr(fs, "%v", err)
	}
	cert, err := loadCert(certDir(dir))
	if err != nil {
		return err
	}
	c, err := dial(e.G)
	if err != nil {
		return err
	}
	defer c.Close()
	dc := signetv1.NewDevOtherCAServiceClient(c.conn)
	resp, err := cli.Once(ctx, c.timeout, func(ctx context.Context) (*signetv1.RevokeOtherCertificateResponse, error) {
		return dc.RevokeOtherCertificate(ctx, &signetv1.RevokeOtherCertificateRequest{Serial: cert.SerialNumber.Text(16), Reason: code})
	})
	if err != nil {
		return devOnly("revoking at the dev other CA", err)
	}
	if e.G.JSON {
		return cli.WriteJSON(e.Stdout, map[string]any{"serial": cert.SerialNumber.Text(16), "revoked_at": resp.GetRevokedAt().AsTime()})
	}
	fmt.Fprintf(e.Stdout, "revoked %s at the dev other CA (%s); its OCSP and CRL say so now\n", cert.SerialNumber.Text(16), reason)
	return nil
}
