package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/signet-ca/signet/store"
	"github.com/signet-ca/signet/store/storetest"
)

// TestAppendAudit_StoresAnyBytes records a refusal whose quoted values
// hold a NUL, invalid UTF-8 and control characters: PostgreSQL refuses
// 0x00 in text and jsonb, so without escaping the refusal would go
// unrecorded (issue 8 item 5).
func TestAppendAudit_StoresAnyBytes(t *testing.T) {
	db, _ := storetest.Open(t)
	ctx := context.Background()
	bad := "req\x00id\xff\x1b"
	ev := &store.AuditEvent{At: time.Now(), Actor: "subscriber@" + bad, Action: "issue", Outcome: "refused", Code: "invalid",
		Reason: "bad_request_id", Serial: bad, Profile: bad, RequestID: bad,
		Details: map[string]any{"message": bad, bad: []any{bad, 1}, "list": []string{bad}}}
	if err := db.InTx(ctx, func(tx *store.Tx) error { return tx.AppendAudit(ctx, ev) }); err != nil {
		t.Fatalf("a refusal quoting bad bytes was not recorded: %v", err)
	}
	evs, err := db.AuditEvents(ctx, ev.ID-1, 1)
	if err != nil || len(evs) != 1 {
		t.Fatalf("read back: %v %v", evs, err)
	}
	want := `"req\x00id\xff\x1b"`
	got := evs[0]
	if got.RequestID != want || got.Serial != want || got.Profile != want || got.Actor != `"subscriber@req\x00id\xff\x1b"` {
		t.Errorf("stored %q %q %q %q, want each Go-quoted as %s", got.Actor, got.RequestID, got.Serial, got.Profile, want)
	}
	if got.Details["message"] != want || got.Details[want] == nil {
		t.Errorf("details stored as %v, want quoted keys and values", got.Details)
	}
	if store.AuditText("홍길동 ok") != "홍길동 ok" {
		t.Error("clean text must be stored unchanged")
	}
}
