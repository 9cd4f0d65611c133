package main

import (
	"context"
	"crypto/x509"
	"fmt"

	"github.com/google/uuid"

	"github.com/signet-ca/signet/ca/proof"
	"github.com/signet-ca/signet/cmd/signet/internal/cli"
	signetv1 "github.com/signet-ca/signet/proto/signet/v1"
)

// holderOp is a status change the holder asks for: revoke (폐지), suspend
// (효력정지) or resume (효력회복). Each is authorized the same two ways
// (DESIGN.md): the holder's key (--cert with --password-file), or fresh
// identity checks when the key is lost (--serial, or --cert for just the
// serial, with the identity flags).
type holderOp struct {
	name    string
	method  string // the gRPC method a key proof is bound to
	purpose signetv1.EnrollmentPurpose
	binding string // what a key proof is bound to
	send    func(ctx context.Context, c *client, requestID, serial, proof string, id *signetv1.IdentityAuthorization) (*signetv1.Certificate, error)
	after   string // printed about the folder afterwards, if any
}

type holderFlags struct {
	dir, serial, passwordFile, reason, profile, audience string
	id                                                   identity
}

func runRevoke(ctx context.Context, e *cli.Env, args []string) error {
	var reason signetv1.RevocationReason
	op := &holderOp{name: "revoke", method: methodRevoke, purpose: signetv1.EnrollmentPurpose_ENROLLMENT_PURPOSE_REVOKE,
		after: "%s still holds the revoked certificate; delete it when you no longer need it",
		send: func(ctx context.Context, c *client, requestID, serial, proof string, id *signetv1.IdentityAuthorization) (*signetv1.Certificate, error) {
			req := &signetv1.RevokeCertificateRequest{RequestId: requestID, Serial: serial, Reason: reason}
			if id != nil {
				req.Authorization = &signetv1.RevokeCertificateRequest_Identity{Identity: id}
			} else {
				req.Authorization = &signetv1.RevokeCertificateRequest_Proof{Proof: proof}
			}
			resp, err := c.enroll.RevokeCertificate(ctx, req)
			return resp.GetCertificate(), err
		}}
	return runHolderOp(ctx, e, args, op, func(f *holderFlags) error {
		var err error
		reason, err = parseReason(f.reason)
		op.binding = proof.BindReason(cli.ReasonName(reason))
		return err
	})
}

func runSuspend(ctx context.Context, e *cli.Env, args []string) error {
	return runHolderOp(ctx, e, args, &holderOp{name: "suspend", method: methodSuspend, binding: "suspend",
		purpose: signetv1.EnrollmentPurpose_ENROLLMENT_PURPOSE_SUSPEND,
		send: func(ctx context.Context, c *client, requestID, serial, proof string, id *signetv1.IdentityAuthorization) (*signetv1.Certificate, error) {
			req := &signetv1.SuspendCertificateRequest{RequestId: requestID, Serial: serial}
			if id != nil {
				req.Authorization = &signetv1.SuspendCertificateRequest_Identity{Identity: id}
			} else {
				req.Authorization = &signetv1.SuspendCertificateRequest_Proof{Proof: proof}
			}
			resp, err := c.enroll.SuspendCertificate(ctx, req)
			return resp.GetCertificate(), err
		}}, nil)
}

func runResume(ctx context.Context, e *cli.Env, args []string) error {
	return runHolderOp(ctx, e, args, &holderOp{name: "resume", method: methodResume, binding: "resume",
		purpose: signetv1.EnrollmentPurpose_ENROLLMENT_PURPOSE_RESUME,
		send: func(ctx context.Context, c *client, requestID, serial, proof string, id *signetv1.IdentityAuthorization) (*signetv1.Certificate, error) {
			req := &signetv1.ResumeCertificateRequest{RequestId: requestID, Serial: serial}
			if id != nil {
				req.Authorization = &signetv1.ResumeCertificateRequest_Identity{Identity: id}
			} else {
				req.Authorization = &signetv1.ResumeCertificateRequest_Proof{Proof: proof}
			}
			resp, err := c.enroll.ResumeCertificate(ctx, req)
			return resp.GetCertificate(), err
		}}, nil)
}

func runHolderOp(ctx context.Context, e *cli.Env, args []string, op *holderOp, check func(*holderFlags) error) error {
	usage := "--cert DIR --password-file F\n   or: signet " + op.name + " --serial HEX --name N --birth YYYYMMDD --phone 010... --carrier SKT --bank 004 --account NUM [--profile P]"
	if op.name == "revoke" {
		usage = "--cert DIR --password-file F --reason R\n   or: signet revoke --serial HEX --reason R --name N --birth YYYYMMDD --phone 010... --carrier SKT --bank 004 --account NUM [--profile P]"
	}
	fs := cli.NewFlagSet(e, op.name, usage)
	var f holderFlags
	fs.StringVar(&f.dir, "cert", "", "NPKI certificate `folder` of the certificate to "+op.name)
	fs.StringVar(&f.serial, "serial", "", "`serial` (hex) of the certificate to "+op.name+", when its folder is gone")
	fs.StringVar(&f.passwordFile, "password-file", "", "`file` whose first line is the certificate password ("+op.name+" with the key)")
	if check != nil {
		fs.StringVar(&f.reason, "reason", "", "RFC 5280 `reason`: "+subscriberReasonList())
	}
	fs.StringVar(&f.profile, "profile", "", "the certificate's `profile` (default: asked from the server)")
	fs.StringVar(&f.audience, "audience", "", "the server's proof `audience` (default: asked from the server)")
	f.id.register(fs)
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if check != nil {
		if err := check(&f); err != nil {
			return cli.UsageErr(fs, "%v", err)
		}
	}
	switch {
	case f.dir == "" && f.serial == "":
		return cli.UsageErr(fs, "give --cert DIR (the certificate's folder) or --serial HEX")
	case f.dir != "" && f.serial != "":
		return cli.UsageErr(fs, "give --cert or --serial, not both")
	case f.passwordFile != "" && f.dir == "":
		return cli.UsageErr(fs, "--password-file needs --cert: acting with the key reads the key from the certificate's folder")
	case f.passwordFile != "" && f.id.given():
		return cli.UsageErr(fs, "give either --password-file (you have the key) or the identity flags (the key is lost), not both")
	}
	if f.passwordFile != "" {
		return holderWithKey(ctx, e, &f, op)
	}
	if !f.id.given() {
		return cli.UsageErr(fs, "to %s without the key, prove your identity with --name, --birth, --phone, --carrier, --bank and --account; with the key, give --password-file", op.name)
	}
	if err := f.id.validate(); err != nil {
		return cli.UsageErr(fs, "%v", err)
	}
	var cert *x509.Certificate
	var err error
	if f.dir != "" {
		f.dir = certDir(f.dir)
		if cert, err = loadCert(f.dir); err != nil {
			return err
		}
		f.serial = cert.SerialNumber.Text(16)
	} else if f.serial, err = cli.CheckSerial(f.serial); err != nil {
		return cli.UsageErr(fs, "%v", err)
	}
	return holderWithIdentity(ctx, e, &f, op, cert)
}

// holderWithKey signs a proof with the certificate's key, bound to the
// operation (and the reason), so that a captured proof cannot be used for
// anything else.
func holderWithKey(ctx context.Context, e *cli.Env, f *holderFlags, op *holderOp) error {
	pw, err := readPassword(f.passwordFile)
	if err != nil {
		return err
	}
	f.dir = certDir(f.dir)
	cert, key, err := loadKeyPair(f.dir, pw)
	if err != nil {
		return err
	}
	c, err := dial(e.G)
	if err != nil {
		return err
	}
	defer c.Close()
	serial := proof.SerialHex(cert)
	aud, err := c.audience(ctx, f.audience, serial)
	if err != nil {
		return err
	}
	token, err := proof.Sign(cert, key, proof.Claims{Audience: aud, Method: op.method, Binding: op.binding})
	if err != nil {
		return err
	}
	return sendHolderOp(ctx, e, c, cert, f.dir, op, serial, token, nil)
}

// holderWithIdentity proves the holder's identity afresh. The enrollment
// must name the certificate's profile, which the server tells anyone.
func holderWithIdentity(ctx context.Context, e *cli.Env, f *holderFlags, op *holderOp, cert *x509.Certificate) error {
	c, err := dial(e.G)
	if err != nil {
		return err
	}
	defer c.Close()
	if f.profile == "" {
		rec, err := c.getCertificate(ctx, f.serial)
		if err != nil {
			return cli.WrapCall("looking up the certificate's profile", err)
		}
		f.profile = rec.GetProfile()
	}
	en, err := c.startEnrollment(ctx, f.profile, op.purpose)
	if err != nil {
		return err
	}
	ev, err := c.checkIdentity(ctx, &f.id, en.GetNonce(), e.Progress())
	if err != nil {
		return err
	}
	return sendHolderOp(ctx, e, c, cert, f.dir, op, f.serial, "",
		&signetv1.IdentityAuthorization{EnrollmentId: en.GetEnrollmentId(), Evidence: ev})
}

func sendHolderOp(ctx context.Context, e *cli.Env, c *client, cert *x509.Certificate, dir string, op *holderOp,
	serial, token string, id *signetv1.IdentityAuthorization) error {
	requestID := uuid.NewString()
	got, err := cli.Retry(ctx, c.timeout, func(ctx context.Context) (*signetv1.Certificate, error) {
		return op.send(ctx, c, requestID, serial, token, id)
	})
	if err != nil {
		return err
	}
	v := cli.ViewOf(got, cert, dir)
	if dir != "" && op.after != "" {
		fmt.Fprintf(e.Progress(), op.name+"d: "+op.after+"\n", dir)
	}
	return cli.PrintView(e.Stdout, e.G.JSON, v)
}
