package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/signet-ca/signet/ca/crlreason"
	"github.com/signet-ca/signet/cmd/signet/internal/cli"
	signetv1 "github.com/signet-ca/signet/proto/signet/v1"
)

func subscriberReasonList() string {
	var names []string
	for _, c := range crlreason.SubscriberCodes() {
		names = append(names, crlreason.Name(c))
	}
	return strings.Join(names, ", ")
}

// parseReason reads a reason a subscriber may give, by its RFC 5280 name;
// the proto enum numbers are the RFC codes. The server refuses the other
// reasons, so they are caught here first.
func parseReason(name string) (signetv1.RevocationReason, error) {
	if name == "" {
		return 0, fmt.Errorf("--reason is required: one of %s", subscriberReasonList())
	}
	code, err := crlreason.Parse(name)
	if err != nil {
		for c := 0; c <= crlreason.AACompromise; c++ {
			if n := crlreason.Name(c); strings.EqualFold(n, name) {
				return 0, fmt.Errorf("--reason %q: reason names are case-sensitive, did you mean %s?", name, n)
			}
		}
		return 0, fmt.Errorf("--reason %q is not an RFC 5280 reason: use one of %s", name, subscriberReasonList())
	}
	if !crlreason.BySubscriber(code) {
		return 0, fmt.Errorf("--reason %s is not for subscribers (it belongs to the CA or is a suspension): use one of %s", name, subscriberReasonList())
	}
	return signetv1.RevocationReason(code), nil
}

// printList prints certificates: a JSON array (never null), or a table.
func printList(w io.Writer, asJSON bool, vs []cli.CertView) error {
	if asJSON {
		if vs == nil {
			vs = []cli.CertView{}
		}
		return cli.WriteJSON(w, vs)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STATUS\tSERIAL\tNOT AFTER\tPROFILE\tSUBJECT")
	for _, v := range vs {
		st := v.Status
		if v.RevocationReason != "" {
			st += " (" + v.RevocationReason + ")"
		}
		if v.Error != "" {
			st += " [" + v.Error + "]"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", st, dash(v.Serial), dash(v.NotAfter), dash(v.Profile), dash(v.Subject))
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
