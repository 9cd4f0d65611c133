package ca

import (
	"context"
	"testing"

	"github.com/signet-ca/signet/ca/evidence/evidencetest"
	"github.com/signet-ca/signet/store"
)

// A profile whose template yields a certificate the NPKI lints refuse (here:
// no key usage) is a bug in Signet's configuration: the issuance is refused
// as INTERNAL lint_failed, audited, and the CA key signs nothing.
func TestIssue_LintFindingRefusesAndSignsNothing(t *testing.T) {
	t.Parallel()
	e := newRulesEnv(t)
	p := e.a.profiles["personal-banking"]
	p.Template = `{"subject": {"extraNames": [
		{"type": "2.5.4.6", "value": "KR"},
		{"type": "2.5.4.10", "value": {{ toJson .Signet.Organization }}},
		{"type": "2.5.4.11", "value": {{ toJson .Signet.ProfileOU }}},
		{"type": "2.5.4.11", "value": {{ toJson .Signet.BankOU }}},
		{"type": "2.5.4.3", "value": {{ toJson .Signet.CommonName }}}
	]}, "basicConstraints": {"isCA": false}}`
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	_, err := e.a.Issue(context.Background(), e.request(t, PurposeIssue, evidencetest.DefaultPerson()))
	rerr, ok := AsError(err)
	if !ok || rerr.Kind != KindInternal || rerr.Reason != "lint_failed" {
		t.Fatalf("issue with a template that drops key usage: %v, want INTERNAL lint_failed", err)
	}
	sigs, _, err := e.db.ListSignatures(context.Background(), store.SignatureFilter{Kind: "subscriber"})
	if err != nil || len(sigs) != 0 {
		t.Fatalf("ledger holds %d subscriber rows (%v): the linted certificate must never be reserved or signed", len(sigs), err)
	}
	events, _, err := e.db.ListAuditEvents(context.Background(), store.EventFilter{Outcome: "refused", Reason: "lint_failed"})
	if err != nil || len(events) != 1 {
		t.Fatalf("%d refused lint_failed audit events (%v), want 1", len(events), err)
	}
}
