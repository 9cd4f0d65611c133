package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/signet-ca/signet/ca/evidence"
	"github.com/signet-ca/signet/cmd/signet/internal/cli"
	signetv1 "github.com/signet-ca/signet/proto/signet/v1"
)

// identity is who the subscriber says they are: the input of the phone
// check (휴대폰 본인인증) and the account check (계좌인증).
type identity struct {
	name, birth, phone, carrier, bank, account string
}

func (id *identity) register(fs *flag.FlagSet) {
	fs.StringVar(&id.name, "name", "", "your `name` as registered with your carrier and bank, e.g. 홍길동")
	fs.StringVar(&id.birth, "birth", "", "birth `date` YYYYMMDD")
	fs.StringVar(&id.phone, "phone", "", "mobile `number`, e.g. 01012345678")
	fs.StringVar(&id.carrier, "carrier", "", "mobile `carrier`: "+strings.Join(evidence.Carriers, ", "))
	fs.StringVar(&id.bank, "bank", "", "3-digit bank `code`, e.g. 004 (KB), 020 (Woori), 088 (Shinhan)")
	fs.StringVar(&id.account, "account", "", "bank account `number` in your name")
}

// given reports whether any identity flag was set.
func (id *identity) given() bool {
	return id.name != "" || id.birth != "" || id.phone != "" || id.carrier != "" || id.bank != "" || id.account != ""
}

// validate normalizes the input (separators people type in phone and
// account numbers, lower-case carriers) and checks it with the same rules
// the identity providers apply, so that a typo is caught before a nonce is
// spent. It reports every problem at once.
func (id *identity) validate() error {
	id.name = evidence.NormalizeName(id.name)
	id.phone = stripSeparators(id.phone)
	id.account = stripSeparators(id.account)
	id.carrier = strings.ToUpper(strings.TrimSpace(id.carrier))
	id.bank = strings.TrimSpace(id.bank)
	id.birth = strings.TrimSpace(id.birth)

	var problems []string
	check := func(flagName, value, hint string, valid func(string) error) {
		if value == "" {
			problems = append(problems, fmt.Sprintf("--%s is required (%s)", flagName, hint))
			return
		}
		if err := valid(value); err != nil {
			problems = append(problems, fmt.Sprintf("--%s: %v", flagName, err))
		}
	}
	check("name", id.name, "your name as your carrier and bank know it", evidence.ValidName)
	check("birth", id.birth, "YYYYMMDD", evidence.ValidBirth)
	check("phone", id.phone, "e.g. 01012345678", evidence.ValidPhone)
	check("carrier", id.carrier, strings.Join(evidence.Carriers, ", "), evidence.ValidCarrier)
	check("bank", id.bank, "3 digits, e.g. 004", evidence.ValidBank)
	check("account", id.account, "6 to 16 digits", evidence.ValidAccount)
	switch len(problems) {
	case 0:
		return nil
	case 1:
		return errors.New(problems[0])
	}
	return errors.New("fix these flags:\n  " + strings.Join(problems, "\n  "))
}

func stripSeparators(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '-' || r == ' ' {
			return -1
		}
		return r
	}, s)
}

// checkIdentity runs the simulated phone and account checks of `signetd
// --dev` for the enrollment nonce and returns the two signed results. In
// dev the SMS code and the 1-won memo code come back in the start response;
// a real client would ask the user to type them.
func (c *client) checkIdentity(ctx context.Context, id *identity, nonce string, progress io.Writer) (*signetv1.IdentityEvidence, error) {
	ps, err := cli.Once(ctx, c.timeout, func(ctx context.Context) (*signetv1.StartPhoneCheckResponse, error) {
		return c.dev.StartPhoneCheck(ctx, &signetv1.StartPhoneCheckRequest{
			Nonce: nonce, Name: id.name, Birth: id.birth, Phone: id.phone, Carrier: id.carrier})
	})
	if err != nil {
		return nil, devCallError("phone check", err)
	}
	fmt.Fprintf(progress, "phone check: SMS code %s (shown by the dev provider)\n", ps.GetCode())
	pc, err := cli.Once(ctx, c.timeout, func(ctx context.Context) (*signetv1.ConfirmPhoneCheckResponse, error) {
		return c.dev.ConfirmPhoneCheck(ctx, &signetv1.ConfirmPhoneCheckRequest{CheckId: ps.GetCheckId(), Code: ps.GetCode()})
	})
	if err != nil {
		return nil, devCallError("phone check", err)
	}

	as, err := cli.Once(ctx, c.timeout, func(ctx context.Context) (*signetv1.StartAccountCheckResponse, error) {
		return c.dev.StartAccountCheck(ctx, &signetv1.StartAccountCheckRequest{
			Nonce: nonce, Bank: id.bank, Account: id.account, HolderName: id.name, HolderBirth: id.birth})
	})
	if err != nil {
		return nil, devCallError("account check", err)
	}
	fmt.Fprintf(progress, "account check: 1-won deposit memo %s (shown by the dev provider)\n", as.GetCode())
	ac, err := cli.Once(ctx, c.timeout, func(ctx context.Context) (*signetv1.ConfirmAccountCheckResponse, error) {
		return c.dev.ConfirmAccountCheck(ctx, &signetv1.ConfirmAccountCheckRequest{CheckId: as.GetCheckId(), Code: as.GetCode()})
	})
	if err != nil {
		return nil, devCallError("account check", err)
	}
	return &signetv1.IdentityEvidence{PhoneToken: pc.GetToken(), AccountToken: ac.GetToken()}, nil
}

// devCallError explains the one failure people will hit first: a server
// that does not run the simulated providers.
func devCallError(op string, err error) error {
	if status.Code(err) == codes.Unimplemented {
		return cli.WrapCall(op, status.Error(codes.Unimplemented,
			"this server does not run the simulated identity providers: start signetd with --dev "+
				"(in production the bank app runs the identity checks)"))
	}
	return cli.WrapCall(op, err)
}
