package reminder

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"strings"
)

// Default is the channel name that catches every bank without its own.
const Default = "default"

// ChannelConfig is one RA channel as configured: where its webhooks go and
// the file holding its HMAC secret.
type ChannelConfig struct {
	WebhookURL string `json:"webhookURL"`
	SecretFile string `json:"secretFile"`
}

// Channel is an RA channel ready to send to.
type Channel struct {
	Name   string // bank code or "default"
	URL    string
	Secret []byte
}

// Channels are the RA channels by bank code, with an optional default.
type Channels map[string]*Channel

// MinSecret is the shortest HMAC secret accepted: 32 characters, as
// `openssl rand -hex 32` gives 64.
const MinSecret = 32

var bankCode = regexp.MustCompile(`^[0-9]{3}$`)

// LoadChannels checks the configuration and reads every secret, so that a
// start with a channel that could never be signed for is refused at once.
func LoadChannels(cfg map[string]ChannelConfig) (Channels, error) {
	out := Channels{}
	for name, c := range cfg {
		if name != Default && !bankCode.MatchString(name) {
			return nil, fmt.Errorf("raChannels: %q is neither a 3-digit bank code (e.g. \"004\") nor %q", name, Default)
		}
		u, err := url.Parse(c.WebhookURL)
		if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
			return nil, fmt.Errorf("raChannels.%s.webhookURL %q: want an absolute https:// URL", name, c.WebhookURL)
		}
		if u.Scheme == "http" && !loopback(u.Hostname()) {
			return nil, fmt.Errorf("raChannels.%s.webhookURL %q: plain http is allowed to loopback only; an RA's webhook must be https", name, c.WebhookURL)
		}
		if c.SecretFile == "" {
			return nil, fmt.Errorf("raChannels.%s.secretFile: missing: every channel's webhooks are signed (openssl rand -hex 32 > FILE)", name)
		}
		b, err := os.ReadFile(c.SecretFile)
		if err != nil {
			return nil, fmt.Errorf("raChannels.%s.secretFile: %w", name, err)
		}
		secret := []byte(strings.TrimSpace(string(b)))
		if len(secret) < MinSecret {
			return nil, fmt.Errorf("raChannels.%s.secretFile %s: the secret is %d characters, want at least %d (openssl rand -hex 32)", name, c.SecretFile, len(secret), MinSecret)
		}
		out[name] = &Channel{Name: name, URL: c.WebhookURL, Secret: secret}
	}
	return out, nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// For is the channel of the RA that issued a certificate, named by the
// bank code of its account evidence, or the default channel.
func (cs Channels) For(bank string) (*Channel, bool) {
	if c, ok := cs[bank]; ok {
		return c, true
	}
	c, ok := cs[Default]
	return c, ok
}
