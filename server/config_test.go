package server_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/signet-ca/signet/server"
)

func TestLoadConfig_ProductionRefusesDevProviders(t *testing.T) {
	dir := t.TempDir()
	write := func(body string) string {
		p := filepath.Join(dir, "signet.json")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct{ name, body, want string }{
		{"devProviders flag", `{"devProviders": true, "providers": [{"id":"nice","kind":"phone","publicKey":"x"}]}`, "devProviders is refused"},
		{"dev provider id", `{"providers": [{"id":"dev-phone","kind":"phone","publicKey":"x"}]}`, "looks like a dev provider"},
		{"no providers", `{}`, "no identity providers"},
		{"unknown field", `{"audiance": "x"}`, "unknown field"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := server.LoadConfig(write(tc.body))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("LoadConfig: %v, want an error containing %q", err, tc.want)
			}
		})
	}
	cfg, err := server.LoadConfig(write(`{"audience":"signet.bank.example","providers":[{"id":"nice","kind":"phone","publicKey":"nice.pem"}]}`))
	if err != nil || cfg.Audience != "signet.bank.example" || cfg.Dev != nil {
		t.Fatalf("valid config: %+v, %v", cfg, err)
	}
}
