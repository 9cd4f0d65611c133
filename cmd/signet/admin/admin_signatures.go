package admin

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"strconv"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/signet-ca/signet/cmd/signet/internal/cli"
	signetv1 "github.com/signet-ca/signet/proto/signet/v1"
)

// signatureView is one row of the signature ledger as the CLI prints it.
type signatureView struct {
	ID         int64  `json:"id"`
	ReservedAt string `json:"reserved_at"`
	IssuerID   string `json:"issuer_id"`
	Kind       string `json:"kind"`
	Serial     string `json:"serial,omitempty"`
	CRLNumber  int64  `json:"crl_number,omitempty"`
	Purpose    string `json:"purpose"`
	RequestID  string `json:"request_id,omitempty"`
	SubjectRef string `json:"subject_ref,omitempty"`
	TBSSHA256  string `json:"tbs_sha256"`
	State      string `json:"state"`
	Outcome    string `json:"outcome,omitempty"`
	// DER is base64 of what was signed, when known.
	DER string `json:"der,omitempty"`
}

var signatureColumns = []column[signatureView]{
	{"ID", func(v signatureView) string { return strconv.FormatInt(v.ID, 10) }},
	{"RECORDED (KST)", func(v signatureView) string { return kstTime(v.ReservedAt) }},
	{"KIND", func(v signatureView) string { return v.Kind }},
	{"SERIAL / CRL", func(v signatureView) string {
		if v.Serial != "" {
			return v.Serial
		}
		return "crl " + strconv.FormatInt(v.CRLNumber, 10)
	}},
	{"PURPOSE", func(v signatureView) string { return v.Purpose }},
	{"STATE", func(v signatureView) string { return v.State }},
}

func runAdminSignatures(ctx context.Context, x *adminEnv, args []string) error {
	fs := x.flagSet("signatures", "[--since 24h | --from D --to D] [--kind K] [--state S] [--issuer ID] [--limit N] [--all]")
	var since, from, to, kind, state, issuer string
	var page pageFlags
	fs.StringVar(&since, "since", "", "signatures recorded in the last `span`: days such as 7d, or a Go duration such as 24h")
	fs.StringVar(&from, "from", "", "recorded at or after this `date` (YYYY-MM-DD in KST, or RFC 3339)")
	fs.StringVar(&to, "to", "", "recorded before the end of this `date` (YYYY-MM-DD in KST), or before an RFC 3339 time")
	fs.StringVar(&kind, "kind", "", "`kind`: subscriber, ocsp_responder, audit_signer, staff or crl")
	fs.StringVar(&state, "state", "", "`state`: reserved, issued, undelivered or abandoned")
	fs.StringVar(&issuer, "issuer", "", "the signing CA's issuer `id`")
	page.register(fs, "signatures")
	if err := x.parse(fs, args); err != nil {
		return err
	}
	req := &signetv1.ListSignaturesRequest{Kind: kind, State: state, IssuerId: issuer}
	var err error
	switch {
	case since != "" && (from != "" || to != ""):
		return cli.UsageErr(fs, "give --since, or --from and --to, not both")
	case since != "":
		d, err := parseSpan(since)
		if err != nil {
			return cli.UsageErr(fs, "--since: %v", err)
		}
		req.ReservedAt = &signetv1.TimeRange{From: timestamppb.New(time.Now().Add(-d))}
	default:
		if req.ReservedAt, err = timeRange("from", from, "to", to); err != nil {
			return cli.UsageErr(fs, "%v", err)
		}
	}
	if req.PageSize, err = pageSize(page.limit); err != nil {
		return cli.UsageErr(fs, "%v", err)
	}
	c, err := x.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	sigs, next, err := pages(ctx, page.all, page.token, func(ctx context.Context, token string) ([]*signetv1.Signature, string, error) {
		req.PageToken = token
		resp, err := cli.Once(ctx, c.timeout, func(ctx context.Context) (*signetv1.ListSignaturesResponse, error) {
			return c.admin.ListSignatures(ctx, req)
		})
		return resp.GetSignatures(), resp.GetNextPageToken(), err
	})
	if err != nil {
		return x.callError("ListSignatures", err)
	}
	views := make([]signatureView, 0, len(sigs))
	for _, s := range sigs {
		v := signatureView{ID: s.GetId(), ReservedAt: cli.TSString(s.GetReservedAt()), IssuerID: s.GetIssuerId(), Kind: s.GetKind(),
			CRLNumber: s.GetCrlNumber(), Purpose: s.GetPurpose(), RequestID: s.GetRequestId(), SubjectRef: s.GetSubjectRef(),
			TBSSHA256: s.GetTbsSha256(), State: s.GetState(), Outcome: s.GetOutcome()}
		if s.GetSerial() != "" {
			v.Serial = cli.NormalSerial(s.GetSerial())
		}
		if len(s.GetDer()) > 0 {
			v.DER = base64.StdEncoding.EncodeToString(s.GetDer())
		}
		views = append(views, v)
	}
	err = x.print(views,
		func(w io.Writer) error { return writeCSV(w, views) },
		func(w io.Writer) error {
			if err := writeTable(w, signatureColumns, views); err != nil {
				return err
			}
			_, err := fmt.Fprintf(w, "%d signatures\n", len(views))
			return err
		})
	x.morePages("signatures", next)
	return err
}
