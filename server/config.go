package server

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"go.step.sm/crypto/pemutil"

	"github.com/signet-ca/signet/ca"
	"github.com/signet-ca/signet/ca/evidence"
	"github.com/signet-ca/signet/ca/signer"
	signetv1 "github.com/signet-ca/signet/proto/signet/v1"
	"github.com/signet-ca/signet/reminder"
)

// Config is signetd's configuration file (JSON). `signetd --dev` builds one
// in code; `signetd --config FILE` reads it. DATABASE_URL in the
// environment overrides databaseURL.
type Config struct {
	Audience     string `json:"audience"`
	Organization string `json:"organization"`
	DatabaseURL  string `json:"databaseURL,omitempty"`
	// MigrationURL is the migration role's connection (MIGRATION_DATABASE_URL
	// overrides it): the role that owns the schema and runs `signetd
	// migrate`. DatabaseURL is the service role, which a production start
	// refuses if it could alter the audit tables (README "Database roles").
	MigrationURL string `json:"migrationURL,omitempty"`
	GRPCAddr     string `json:"grpcAddr"`
	HTTPAddr     string `json:"httpAddr"`
	// AdminAddr is the admin API's listener (mutual TLS with AdminCA).
	AdminAddr string `json:"adminAddr,omitempty"`
	// PprofAddr, if set, serves net/http/pprof over HTTPS with the admin
	// listener's mutual TLS, to staff certificates of the operator role
	// only (README "Metrics, traces and profiles"). It needs adminCA.
	PprofAddr string `json:"pprofAddr,omitempty"`
	// OTLPEndpoint, if set, exports traces over OTLP/gRPC to this
	// collector (host:port); off by default. OTLPInsecure sends them
	// without TLS, for a collector on the same host or pod.
	OTLPEndpoint string `json:"otlpEndpoint,omitempty"`
	OTLPInsecure bool   `json:"otlpInsecure,omitempty"`
	// AdminCA is the CA of staff client certificates: Cert its PEM
	// certificate, Key its key, through KMS like the issuing CA's (a
	// softkms PEM path when KMS is empty, or a PKCS#11 or cloud KMS URI).
	AdminCA struct {
		Cert string `json:"cert"`
		KMS  string `json:"kms,omitempty"`
		Key  string `json:"key"`
	} `json:"adminCA"`
	TLS struct {
		Cert string `json:"cert"` // PEM chain presented to clients
		Key  string `json:"key"`
	} `json:"tls"`
	// SubjectKeyFile holds the hex HMAC key for subject_ref (≥ 32 bytes).
	SubjectKeyFile string           `json:"subjectKeyFile"`
	Signer         signer.Config    `json:"signer"`
	Providers      []ProviderConfig `json:"providers"`
	Profiles       []*ca.Profile    `json:"profiles,omitempty"`
	CRLBaseURL     string           `json:"crlBaseURL,omitempty"`
	OCSPURL        string           `json:"ocspURL,omitempty"`
	// IssuerURL is the caIssuers AIA entry of issued certificates: where
	// relying parties fetch the issuing CA certificate (DER).
	IssuerURL string `json:"issuerURL,omitempty"`
	// SignatureRecoveryAfter is how long a signature recorded but not
	// settled may stay open before it is marked abandoned (default 2m):
	// only a process that stopped between recording and settling leaves one.
	SignatureRecoveryAfter Duration `json:"signatureRecoveryAfter,omitempty"`
	// CRLNextUpdate is each CRL's nextUpdate - thisUpdate (default 24h);
	// CRLInterval how often one is generated without any change (default 1h).
	CRLNextUpdate Duration `json:"crlNextUpdate,omitempty"`
	CRLInterval   Duration `json:"crlInterval,omitempty"`
	// CRLRetention is how long a CRL's DER is kept past its nextUpdate
	// (default 7 days); its number, times and SHA-256 are kept forever.
	CRLRetention Duration `json:"crlRetention,omitempty"`
	// RateLimits are the abuse limits per RA client and per subject
	// (server/limits.go; README "Rate limits").
	RateLimits RateLimits `json:"rateLimits,omitempty"`
	// OtherCAs is the trust list of other joint-certificate CAs whose
	// certificates may be registered (README "Registering other banks'
	// certificates"); checked at start.
	OtherCAs []OtherCAConfig `json:"otherCAs,omitempty"`
	// RegistrationRecheck is how often registered certificates' status is
	// asked of their CAs again (default 1h); StatusTimeout bounds each
	// OCSP or CRL fetch (default 5s).
	RegistrationRecheck Duration `json:"registrationRecheck,omitempty"`
	StatusTimeout       Duration `json:"statusTimeout,omitempty"`
	// RAChannels are where expiry reminders go, by the bank code of the
	// certificate's account evidence ("default" for every other bank):
	// a webhook URL and the file of its HMAC secret (README "Expiry
	// reminders"). Empty: no reminders are scheduled.
	RAChannels map[string]reminder.ChannelConfig `json:"raChannels,omitempty"`
	// Dev is the simulated identity providers, which only signetd --dev
	// sets (cmd/signetd/dev.go); a file cannot (see LoadConfig).
	Dev *DevIdentity `json:"-"`
	// leastPrivilege is set by LoadConfig: a production start refuses a
	// service role that could alter the audit tables, and migrates only
	// through MigrationURL.
	leastPrivilege bool
}

// AdminCASigner is the signer configuration of the admin CA.
func (c *Config) AdminCASigner() signer.Config {
	if c.AdminCA.KMS == "" {
		return signer.Config{Chain: c.AdminCA.Cert, KMS: "softkms:", Key: c.AdminCA.Key}
	}
	return signer.Config{Chain: c.AdminCA.Cert, KMS: c.AdminCA.KMS, Key: c.AdminCA.Key}
}

// DevIdentity is the simulated identity providers of signetd --dev, built
// by the caller (server/devidentity over ca/evidence/devprovider) so that
// the server package, which production runs, does not contain the
// simulator.
type DevIdentity struct {
	// Providers are the simulator's keys, trusted beside Config.Providers.
	Providers []evidence.Provider
	// Service answers the CLI's simulated phone and account checks.
	Service signetv1.DevIdentityServiceServer
	// CI is the simulator's CI for a name and birth date (YYYYMMDD), so
	// that the admin API can find a dev subject by them.
	CI func(name, birth string) string
	// OtherCA plays another bank's CA (server/registration.go); nil: none.
	OtherCA *DevOtherCA
	// WebhookSink, when set, is served at POST /dev/webhook: an RA's
	// endpoint that checks and logs the reminders sent to it.
	WebhookSink http.Handler
}

// ProviderConfig trusts one identity provider's key for one kind of check.
type ProviderConfig struct {
	ID        string `json:"id"`
	Kind      string `json:"kind"`      // phone or account
	PublicKey string `json:"publicKey"` // PEM file
}

// LoadConfig reads a production configuration file.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	// devProviders is read only to be refused by name: simulated
	// providers come from --dev, never from a file.
	var file struct {
		Config
		DevProviders bool `json:"devProviders,omitempty"`
	}
	if err := dec.Decode(&file); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	c := file.Config
	if file.DevProviders {
		return nil, fmt.Errorf("config %s: devProviders is refused outside --dev: simulated identity checks would let anyone obtain a certificate", path)
	}
	for _, p := range c.Providers {
		if strings.HasPrefix(p.ID, "dev-") {
			return nil, fmt.Errorf("config %s: provider %q looks like a dev provider, which a production start refuses", path, p.ID)
		}
	}
	if len(c.Providers) == 0 {
		return nil, fmt.Errorf("config %s: no identity providers: trust at least one phone and one account provider", path)
	}
	c.leastPrivilege = true
	return &c, nil
}

func (c *Config) validate() error {
	var missing []string
	for name, v := range map[string]string{
		"audience": c.Audience, "organization": c.Organization, "grpcAddr": c.GRPCAddr, "httpAddr": c.HTTPAddr,
		"tls.cert": c.TLS.Cert, "tls.key": c.TLS.Key, "subjectKeyFile": c.SubjectKeyFile, "databaseURL (or DATABASE_URL)": c.DatabaseURL,
		// NPKI certificates name their CRL, OCSP responder and issuer
		// certificate; the pre-issuance lint refuses any without them, so a
		// configuration without them could issue nothing.
		"crlBaseURL": c.CRLBaseURL, "ocspURL": c.OCSPURL, "issuerURL": c.IssuerURL,
	} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return fmt.Errorf("config: missing %s", strings.Join(missing, ", "))
	}
	if (c.AdminCA.Cert != "") != (c.AdminAddr != "") {
		return fmt.Errorf("config: adminAddr and adminCA go together: the admin API needs both a listener and its client CA")
	}
	if c.PprofAddr != "" && c.AdminCA.Cert == "" {
		return fmt.Errorf("config: pprofAddr needs adminCA: profiles are served to operators' staff certificates only")
	}
	return nil
}

func (c *Config) providers() ([]evidence.Provider, error) {
	var out []evidence.Provider
	for _, p := range c.Providers {
		key, err := pemutil.Read(p.PublicKey)
		if err != nil {
			return nil, fmt.Errorf("provider %s: public key %s: %w", p.ID, p.PublicKey, err)
		}
		out = append(out, evidence.Provider{ID: p.ID, Kind: evidence.Kind(p.Kind), Key: key})
	}
	return out, nil
}

// ReadSubjectKey reads the hex HMAC key for subject_ref.
func ReadSubjectKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("subject key: %w", err)
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) < 32 {
		return nil, errors.New("subject key: want at least 32 bytes, hex encoded (`openssl rand -hex 32`)")
	}
	return key, nil
}

// Duration is a time.Duration written as a Go duration string ("24h").
type Duration time.Duration

func (d Duration) Duration() time.Duration { return time.Duration(d) }

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		return fmt.Errorf("duration %q: want a Go duration like \"24h\"", s)
	}
	*d = Duration(v)
	return nil
}
