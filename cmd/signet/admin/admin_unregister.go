package admin

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/signet-ca/signet/cmd/signet/internal/cli"
	signetv1 "github.com/signet-ca/signet/proto/signet/v1"
)

// unregisteredView is a registration after an operator's 해제.
type unregisteredView struct {
	RegistrationID string `json:"registration_id"`
	Serial         string `json:"serial"`
	Issuer         string `json:"issuer"`
	TrustCA        string `json:"trust_ca"`
	Status         string `json:"status"`
	Reason         string `json:"reason"`
}

// runAdminUnregister is an operator's 해제 of any registration (a fraud
// report, a bank closing an account): the certificate no longer signs in.
// It is sent once; a second call is refused by the server as already done.
func runAdminUnregister(ctx context.Context, x *adminEnv, args []string) error {
	fs := x.flagSet("unregister", "--id REGISTRATION_ID --reason TEXT [--comment TEXT]\n\nNeeds an operator certificate: --cert F --key F.")
	var id, reason, comment string
	fs.StringVar(&id, "id", "", "the registration `id` (a UUID, or signet:<serial> for one of Signet's own certificates)")
	fs.StringVar(&reason, "reason", "", "why, as the holder's list will show it (`text`)")
	fs.StringVar(&comment, "comment", "", "for the audit log (`text`), e.g. a ticket number")
	if err := x.parse(fs, args); err != nil {
		return err
	}
	id, reason = strings.TrimSpace(id), strings.TrimSpace(reason)
	if id == "" {
		return cli.UsageErr(fs, "--id is required: the registration's id, as `signet registrations` or the audit log shows it")
	}
	if reason == "" {
		return cli.UsageErr(fs, "--reason is required: it is recorded and shown to the holder")
	}
	c, err := x.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	regs := signetv1.NewRegistrationAdminServiceClient(c.conn)
	resp, err := cli.Once(ctx, c.timeout, func(ctx context.Context) (*signetv1.AdminUnregisterResponse, error) {
		return regs.AdminUnregister(ctx, &signetv1.AdminUnregisterRequest{RegistrationId: id, Reason: reason, Comment: strings.TrimSpace(comment)})
	})
	if err != nil {
		return x.callError("AdminUnregister", err)
	}
	r := resp.GetRegistration()
	v := unregisteredView{RegistrationID: r.GetRegistrationId(), Serial: cli.NormalSerial(r.GetSerial()), Issuer: r.GetIssuer(),
		TrustCA: r.GetTrustCa(), Status: r.GetStatus(), Reason: r.GetReason()}
	return x.print(v,
		func(w io.Writer) error { return writeCSV(w, []unregisteredView{v}) },
		func(w io.Writer) error {
			_, err := fmt.Fprintf(w, "registration %s (certificate %s from %s) is %s: %s\n", v.RegistrationID, v.Serial, v.TrustCA, v.Status, v.Reason)
			return err
		})
}
