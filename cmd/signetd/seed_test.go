package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Seeding a database named by a production configuration is refused before
// the configuration is even read: fake rows would forge the sealed log.
func TestDevSeed_RefusesAProductionConfig(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "signet.json")
	if err := os.WriteFile(cfg, []byte(`{"databaseURL": "postgres://signet@db.example:5432/signet"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	err := devCmd([]string{"seed", "--certs", "10", "--config", cfg})
	if err == nil || !strings.Contains(err.Error(), "refuses --config") {
		t.Fatalf("dev seed --config: %v, want a refusal", err)
	}
}
