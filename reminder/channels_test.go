package reminder_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/signet-ca/signet/reminder"
)

func TestLoadChannels_RefusesWhatCouldNeverBeSent(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	short := filepath.Join(dir, "short")
	if err := os.WriteFile(good, []byte(strings.Repeat("ab", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(short, []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		key  string
		c    reminder.ChannelConfig
		want string
	}{
		"bank name":       {"KB", reminder.ChannelConfig{WebhookURL: "https://ra.example/h", SecretFile: good}, "neither a 3-digit bank code"},
		"relative url":    {"004", reminder.ChannelConfig{WebhookURL: "/hook", SecretFile: good}, "want an absolute https:// URL"},
		"plain http":      {"004", reminder.ChannelConfig{WebhookURL: "http://ra.example/h", SecretFile: good}, "plain http is allowed to loopback only"},
		"no secret":       {"default", reminder.ChannelConfig{WebhookURL: "https://ra.example/h"}, "secretFile: missing"},
		"missing secret":  {"default", reminder.ChannelConfig{WebhookURL: "https://ra.example/h", SecretFile: filepath.Join(dir, "nope")}, "no such file"},
		"short secret":    {"default", reminder.ChannelConfig{WebhookURL: "https://ra.example/h", SecretFile: short}, "want at least 32"},
		"loopback is ok?": {"default", reminder.ChannelConfig{WebhookURL: "http://127.0.0.1:9080/dev/webhook", SecretFile: good}, ""},
	} {
		_, err := reminder.LoadChannels(map[string]reminder.ChannelConfig{tc.key: tc.c})
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want it to say %q", name, err, tc.want)
		}
	}
	cs, err := reminder.LoadChannels(map[string]reminder.ChannelConfig{
		"004":     {WebhookURL: "https://kb.example/h", SecretFile: good},
		"default": {WebhookURL: "https://all.example/h", SecretFile: good},
	})
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := cs.For("004"); c.URL != "https://kb.example/h" {
		t.Errorf("004 goes to %s", c.URL)
	}
	if c, _ := cs.For("088"); c.URL != "https://all.example/h" {
		t.Errorf("088 goes to %s", c.URL)
	}
	if c, _ := cs.For("004"); string(c.Secret) != strings.Repeat("ab", 32) {
		t.Errorf("secret %q: want the file's text without its newline", c.Secret)
	}
}
