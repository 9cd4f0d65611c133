package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"

	"github.com/signet-ca/signet/ca/proof"
	"github.com/signet-ca/signet/cmd/signet/internal/cli"
	signetv1 "github.com/signet-ca/signet/proto/signet/v1"
)

// The methods registration proofs are bound to (ca/registration).
const (
	methodRegister   = "/signet.v1.RegistrationService/Register"
	methodUnregister = "/signet.v1.RegistrationService/Unregister"
	methodList       = "/signet.v1.RegistrationService/ListRegistrations"
)

// startRegistration asks for a challenge for one registration call.
func (c *client) startRegistration(ctx context.Context, purpose signetv1.RegistrationPurpose) (*signetv1.StartRegistrationResponse, error) {
	rc := signetv1.NewRegistrationServiceClient(c.conn)
	ch, err := cli.Retry(ctx, c.timeout, func(ctx context.Context) (*signetv1.StartRegistrationResponse, error) {
		return rc.StartRegistration(ctx, &signetv1.StartRegistrationRequest{Purpose: purpose})
	})
	if err != nil {
		return nil, cli.WrapCall("asking for a registration challenge", err)
	}
	return ch, nil
}

// runRegister is 타행 인증서 등록: the identity checks, a signature with the
// certificate's key over the challenge, and the VID from the resident
// number and the key file's R, which is what proves the certificate is
// this person's.
func runRegister(ctx context.Context, e *cli.Env, args []string) error {
	fs := cli.NewFlagSet(e, "register", "--cert DIR --password-file F --idn-file F --name N --birth YYYYMMDD --phone 010... --carrier SKT --bank 004 --account NUM")
	var dir, passwordFile string
	var id identity
	var idn idnFlags
	fs.StringVar(&dir, "cert", "", "NPKI certificate `folder` of the certificate to register (any trusted CA's)")
	fs.StringVar(&passwordFile, "password-file", "", "`file` whose first line is the certificate password")
	id.register(fs)
	idn.register(fs)
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if dir == "" {
		return cli.UsageErr(fs, "--cert is required: the NPKI folder of the certificate to register")
	}
	if err := id.validate(); err != nil {
		return cli.UsageErr(fs, "%v", err)
	}
	cert, key, number, err := holderKey(fs, dir, passwordFile, &idn)
	if err != nil {
		return err
	}
	c, err := dial(e.G)
	if err != nil {
		return err
	}
	defer c.Close()
	ch, err := c.startRegistration(ctx, signetv1.RegistrationPurpose_REGISTRATION_PURPOSE_REGISTER)
	if err != nil {
		return err
	}
	ev, err := c.checkIdentity(ctx, &id, ch.GetNonce(), e.Progress())
	if err != nil {
		return err
	}
	token, err := proof.Sign(cert, key.Signer, proof.Claims{Audience: ch.GetAudience(), Method: methodRegister, Binding: ch.GetNonce()})
	if err != nil {
		return err
	}
	rc := signetv1.NewRegistrationServiceClient(c.conn)
	// One request id for every attempt: a retry after a lost answer gets
	// the registration back instead of a spent-challenge refusal.
	requestID := uuid.NewString()
	resp, err := cli.Retry(ctx, c.timeout, func(ctx context.Context) (*signetv1.RegisterResponse, error) {
		return rc.Register(ctx, &signetv1.RegisterRequest{RequestId: requestID, ChallengeId: ch.GetChallengeId(), Proof: token, Evidence: ev,
			HolderIdentity: &signetv1.HolderIdentity{Idn: number, RandomNum: key.RandomNum}})
	})
	if err != nil {
		return cli.WrapCall("registering", err)
	}
	return printRegistrations(e.Stdout, e.G.JSON, []*signetv1.Registration{resp.GetRegistration()}, false)
}

// runUnregister is 해제: with the certificate's key, or with the identity
// checks and the registration id when the key is lost.
func runUnregister(ctx context.Context, e *cli.Env, args []string) error {
	fs := cli.NewFlagSet(e, "unregister", "--cert DIR --password-file F --reason TEXT | --registration ID --reason TEXT <identity flags>")
	var dir, passwordFile, reason, regID string
	var id identity
	fs.StringVar(&dir, "cert", "", "NPKI certificate `folder` whose key signs the request")
	fs.StringVar(&passwordFile, "password-file", "", "`file` whose first line is the certificate password")
	fs.StringVar(&reason, "reason", "", "why, in a few words (required), e.g. \"no longer used\"")
	fs.StringVar(&regID, "registration", "", "registration `id` (from `signet registrations`), with the identity flags when the key is lost")
	id.register(fs)
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if strings.TrimSpace(reason) == "" {
		return cli.UsageErr(fs, "--reason is required")
	}
	req := &signetv1.UnregisterRequest{Reason: reason, RegistrationId: regID}
	sign, err := holderAuth(fs, dir, passwordFile, regID, &id)
	if err != nil {
		return err
	}
	c, err := dial(e.G)
	if err != nil {
		return err
	}
	defer c.Close()
	ch, err := c.startRegistration(ctx, signetv1.RegistrationPurpose_REGISTRATION_PURPOSE_UNREGISTER)
	if err != nil {
		return err
	}
	req.ChallengeId = ch.GetChallengeId()
	if sign != nil {
		if req.Proof, err = sign(ch.GetAudience(), methodUnregister, ch.GetNonce()+" reason="+reason); err != nil {
			return err
		}
	} else if req.Evidence, err = c.checkIdentity(ctx, &id, ch.GetNonce(), e.Progress()); err != nil {
		return err
	}
	rc := signetv1.NewRegistrationServiceClient(c.conn)
	resp, err := cli.Once(ctx, c.timeout, func(ctx context.Context) (*signetv1.UnregisterResponse, error) {
		return rc.Unregister(ctx, req)
	})
	if err != nil {
		return cli.WrapCall("unregistering", err)
	}
	return printRegistrations(e.Stdout, e.G.JSON, []*signetv1.Registration{resp.GetRegistration()}, false)
}

// runRegistrations lists a person's registrations, proved by any of their
// registered certificates' keys or by the identity checks.
func runRegistrations(ctx context.Context, e *cli.Env, args []string) error {
	fs := cli.NewFlagSet(e, "registrations", "--cert DIR --password-file F | <identity flags>")
	var dir, passwordFile string
	var id identity
	fs.StringVar(&dir, "cert", "", "NPKI `folder` of any of your registered certificates, whose key signs the request")
	fs.StringVar(&passwordFile, "password-file", "", "`file` whose first line is the certificate password")
	id.register(fs)
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	sign, err := holderAuth(fs, dir, passwordFile, "-", &id)
	if err != nil {
		return err
	}
	c, err := dial(e.G)
	if err != nil {
		return err
	}
	defer c.Close()
	ch, err := c.startRegistration(ctx, signetv1.RegistrationPurpose_REGISTRATION_PURPOSE_LIST)
	if err != nil {
		return err
	}
	req := &signetv1.ListRegistrationsRequest{ChallengeId: ch.GetChallengeId()}
	if sign != nil {
		if req.Proof, err = sign(ch.GetAudience(), methodList, ch.GetNonce()); err != nil {
			return err
		}
	} else if req.Evidence, err = c.checkIdentity(ctx, &id, ch.GetNonce(), e.Progress()); err != nil {
		return err
	}
	rc := signetv1.NewRegistrationServiceClient(c.conn)
	resp, err := cli.Once(ctx, c.timeout, func(ctx context.Context) (*signetv1.ListRegistrationsResponse, error) {
		return rc.ListRegistrations(ctx, req)
	})
	if err != nil {
		return cli.WrapCall("listing registrations", err)
	}
	return printRegistrations(e.Stdout, e.G.JSON, resp.GetRegistrations(), true)
}

// holderAuth picks how the holder proves the request: a signer over the
// certificate's key with --cert, or nil for the identity checks (which
// need the identity flags and, with needID "", a --registration).
func holderAuth(fs *flag.FlagSet, dir, passwordFile, needID string, id *identity) (func(aud, method, binding string) (string, error), error) {
	if dir != "" {
		if id.given() {
			return nil, cli.UsageErr(fs, "give --cert (the key signs) or the identity flags, not both")
		}
		pw, err := readPassword(passwordFile)
		if err != nil {
			return nil, cli.UsageErr(fs, "%v", err)
		}
		cert, key, err := loadKeyPair(certDir(dir), pw)
		if err != nil {
			return nil, err
		}
		return func(aud, method, binding string) (string, error) {
			return proof.Sign(cert, key, proof.Claims{Audience: aud, Method: method, Binding: binding})
		}, nil
	}
	if !id.given() {
		return nil, cli.UsageErr(fs, "give --cert and --password-file, or (when the key is lost) the identity flags")
	}
	if err := id.validate(); err != nil {
		return nil, cli.UsageErr(fs, "%v", err)
	}
	if needID == "" {
		return nil, cli.UsageErr(fs, "with the identity flags, --registration names the registration to end (see `signet registrations`)")
	}
	return nil, nil
}

// registrationView is a registration as --json prints it.
type registrationView struct {
	ID          string `json:"registration_id"`
	Serial      string `json:"serial"`
	TrustCA     string `json:"trust_ca"`
	Status      string `json:"status"`
	Reason      string `json:"reason,omitempty"`
	Subject     string `json:"subject"`
	Issuer      string `json:"issuer"`
	NotAfter    string `json:"not_after"`
	CheckStatus string `json:"check_status"`
	CheckSource string `json:"check_source"`
	CheckedAt   string `json:"checked_at"`
}

func printRegistrations(w io.Writer, asJSON bool, rs []*signetv1.Registration, list bool) error {
	vs := make([]registrationView, 0, len(rs))
	for _, r := range rs {
		vs = append(vs, registrationView{ID: r.GetRegistrationId(), Serial: r.GetSerial(), TrustCA: r.GetTrustCa(), Status: r.GetStatus(),
			Reason: r.GetReason(), Subject: r.GetSubject(), Issuer: r.GetIssuer(), NotAfter: r.GetNotAfter().AsTime().Format(time.RFC3339),
			CheckStatus: r.GetCheckStatus(), CheckSource: r.GetCheckSource(), CheckedAt: r.GetCheckedAt().AsTime().Format(time.RFC3339)})
	}
	if asJSON {
		if list {
			return cli.WriteJSON(w, vs)
		}
		return cli.WriteJSON(w, vs[0])
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "REGISTRATION\tCA\tSTATUS\tSERIAL\tVALID UNTIL\tLAST CHECK")
	for _, v := range vs {
		status := v.Status
		if v.Reason != "" {
			status += " (" + v.Reason + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s %s\n", v.ID, v.TrustCA, status, v.Serial, v.NotAfter, v.CheckStatus, v.CheckSource)
	}
	return tw.Flush()
}
