package admin

import (
	"context"
	"io"
	"strings"

	"github.com/google/uuid"

	"github.com/signet-ca/signet/cmd/signet/internal/cli"
	signetv1 "github.com/signet-ca/signet/proto/signet/v1"
)

// The operator's commands act on any certificate without the holder's key
// or evidence: the operator's client certificate authorizes them, and the
// comment says why in the audit event that the change writes.

// operatorAction is one of revoke, suspend and resume.
type operatorAction struct {
	name, method string
	withReason   bool // revoke takes --reason
	send         func(ctx context.Context, c *adminClient, r operatorRequest) (*signetv1.Certificate, error)
}

type operatorRequest struct {
	requestID, serial, comment string
	reason                     signetv1.RevocationReason
}

func runAdminRevoke(ctx context.Context, x *adminEnv, args []string) error {
	return x.act(ctx, args, operatorAction{name: "revoke", method: "AdminRevokeCertificate", withReason: true,
		send: func(ctx context.Context, c *adminClient, r operatorRequest) (*signetv1.Certificate, error) {
			resp, err := c.admin.AdminRevokeCertificate(ctx, &signetv1.AdminRevokeCertificateRequest{
				RequestId: r.requestID, Serial: r.serial, Reason: r.reason, Comment: r.comment})
			return resp.GetCertificate(), err
		}})
}

func runAdminSuspend(ctx context.Context, x *adminEnv, args []string) error {
	return x.act(ctx, args, operatorAction{name: "suspend", method: "AdminSuspendCertificate",
		send: func(ctx context.Context, c *adminClient, r operatorRequest) (*signetv1.Certificate, error) {
			resp, err := c.admin.AdminSuspendCertificate(ctx, &signetv1.AdminSuspendCertificateRequest{
				RequestId: r.requestID, Serial: r.serial, Comment: r.comment})
			return resp.GetCertificate(), err
		}})
}

func runAdminResume(ctx context.Context, x *adminEnv, args []string) error {
	return x.act(ctx, args, operatorAction{name: "resume", method: "AdminResumeCertificate",
		send: func(ctx context.Context, c *adminClient, r operatorRequest) (*signetv1.Certificate, error) {
			resp, err := c.admin.AdminResumeCertificate(ctx, &signetv1.AdminResumeCertificateRequest{
				RequestId: r.requestID, Serial: r.serial, Comment: r.comment})
			return resp.GetCertificate(), err
		}})
}

// act runs an operator action. The request_id is made once and every
// retry carries it, so that a repeat after a lost answer returns the first
// result (DESIGN.md, invariant 6).
func (x *adminEnv) act(ctx context.Context, args []string, op operatorAction) error {
	synopsis := "--serial HEX --comment TEXT"
	if op.withReason {
		synopsis = "--serial HEX --reason R --comment TEXT"
	}
	fs := x.flagSet(op.name, synopsis+"\n\nNeeds an operator certificate: --cert F --key F.")
	var serial, reason string
	var r operatorRequest
	fs.StringVar(&serial, "serial", "", "`serial` in hex of the certificate to "+op.name)
	fs.StringVar(&r.comment, "comment", "", "why, for the audit log: a ticket or court order, say (`text`)")
	if op.withReason {
		fs.StringVar(&reason, "reason", "", "RFC 5280 `reason`: "+strings.Join(operatorReasons(), ", "))
	}
	if err := x.parse(fs, args); err != nil {
		return err
	}
	var err error
	if r.serial, err = cli.CheckSerial(serial); err != nil {
		return cli.UsageErr(fs, "%v", err)
	}
	if op.withReason {
		if r.reason, err = parseOperatorReason(reason); err != nil {
			return cli.UsageErr(fs, "%v", err)
		}
	}
	// The server would take no comment, but an operator acting on
	// someone's certificate must leave the reason on the record.
	if r.comment = strings.TrimSpace(r.comment); r.comment == "" {
		return cli.UsageErr(fs, "--comment is required: say why, for the audit log")
	}
	c, err := x.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	r.requestID = uuid.NewString()
	got, err := cli.Retry(ctx, c.timeout, func(ctx context.Context) (*signetv1.Certificate, error) {
		return op.send(ctx, c, r)
	})
	if err != nil {
		return x.callError(op.method, err)
	}
	v := cli.ViewOf(got, nil, "")
	return x.print(v,
		func(w io.Writer) error { return writeCSV(w, []cli.CertView{v}) },
		func(w io.Writer) error { return cli.PrintView(w, false, v) })
}
