package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// stepCATarget is the peer: step-ca's POST /1.0/sign with a JWK
// provisioner's one-time token, as `step ca certificate` sends it.
type stepCATarget struct {
	cfg      *config
	client   *http.Client
	signURL  string
	runID    string
	key      jose.JSONWebKey
	alg      jose.SignatureAlgorithm
	kid      string
	rootSHA  string
	bodies   [][]byte
	protocol atomic.Value // string: the HTTP version step-ca answered with
}

var _ target = (*stepCATarget)(nil)

// httpError is a non-2xx answer from step-ca.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.status, e.msg) }

// tokenLifetime bounds the timed phase as Signet's evidence freshness
// does (10 minutes); the step CLI's default is 5 minutes.
const tokenLifetime = 10 * time.Minute

func newStepCATarget(cfg *config) (*stepCATarget, error) {
	host, _, err := net.SplitHostPort(cfg.addr)
	if err != nil {
		return nil, fmt.Errorf("-addr %q: give step-ca's host:port, e.g. 127.0.0.1:9000", cfg.addr)
	}
	tlsCfg, err := tlsConfig(cfg.caFile, host, "give step-ca's root, e.g. $STEPPATH/certs/root_ca.crt")
	if err != nil {
		return nil, err
	}
	t := &stepCATarget{cfg: cfg, signURL: "https://" + cfg.addr + "/1.0/sign"}
	if t.rootSHA, err = rootFingerprint(cfg.caFile); err != nil {
		return nil, err
	}
	if err := t.loadKey(cfg.stepKey); err != nil {
		return nil, err
	}
	var rid [4]byte
	_, _ = rand.Read(rid[:])
	t.runID = hex.EncodeToString(rid[:])
	t.client = &http.Client{Transport: &http.Transport{
		TLSClientConfig:     tlsCfg,
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: cfg.c,
		IdleConnTimeout:     time.Minute,
	}}
	return t, nil
}

// rootFingerprint is the hex SHA-256 of the first certificate in file: the
// token's "sha" claim (smallstep/cli token.WithRootCA).
func rootFingerprint(file string) (string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("-ca-file: %w", err)
	}
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return "", fmt.Errorf("-ca-file %s holds no certificate: give step-ca's root_ca.crt", file)
		}
		if blk.Type == "CERTIFICATE" {
			sum := sha256.Sum256(blk.Bytes)
			return hex.EncodeToString(sum[:]), nil
		}
	}
}

// loadKey reads the provisioner's private JWK. The kid header must be the
// provisioner's key id (step-ca looks the provisioner up by iss + ":" +
// kid); step sets it to the SHA-256 thumbprint, which is also the fallback.
func (t *stepCATarget) loadKey(file string) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("-stepca-key: %w", err)
	}
	if err := t.key.UnmarshalJSON(b); err != nil {
		return fmt.Errorf("-stepca-key %s is not a JWK (%v): make an unencrypted one with `step crypto jwk create pub.json priv.json --no-password --insecure`", file, err)
	}
	if t.key.IsPublic() {
		return fmt.Errorf("-stepca-key %s is a public key: give the private JWK", file)
	}
	t.kid = t.key.KeyID
	if t.kid == "" {
		pub := t.key.Public()
		tp, err := pub.Thumbprint(crypto.SHA256)
		if err != nil {
			return fmt.Errorf("-stepca-key: %w", err)
		}
		t.kid = base64.RawURLEncoding.EncodeToString(tp)
	}
	t.alg = jose.SignatureAlgorithm(t.key.Algorithm)
	if t.alg == "" {
		t.alg = jose.ES256 // step's default JWK: EC P-256
	}
	return nil
}

func (t *stepCATarget) close() { t.client.CloseIdleConnections() }

func (t *stepCATarget) describe(s *summary) {
	s.Target, s.Mode = "stepca", "sign"
	if p, ok := t.protocol.Load().(string); ok {
		s.Protocol = p
	}
}

// commonName of certificate i: a DNS name, which the step CLI also puts in
// the CSR's SANs and the token's "sans".
func (t *stepCATarget) commonName(i int) string {
	return fmt.Sprintf("c%d-%s.bench.internal", i, t.runID)
}

func (t *stepCATarget) csrTemplate(i int) *x509.CertificateRequest {
	cn := t.commonName(i)
	return &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}, DNSNames: []string{cn}}
}

func (t *stepCATarget) preflight(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, t.cfg.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(cctx, http.MethodGet, "https://"+t.cfg.addr+"/health", nil)
	if err != nil {
		return err
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return fmt.Errorf("step-ca at %s does not answer (%v): is step-ca running? bench/peer/run.sh starts one; or give -addr and -ca-file", t.cfg.addr, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("step-ca at %s: GET /health answered %s: is this step-ca?", t.cfg.addr, resp.Status)
	}
	return nil
}

// prepare mints one token per certificate and builds every request body
// before the timer starts.
func (t *stepCATarget) prepare(ctx context.Context, csrs [][]byte, stage func(string, int) *progress) error {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: t.alg, Key: t.key.Key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", t.kid))
	if err != nil {
		return fmt.Errorf("-stepca-key: cannot sign %s with it: %w", t.alg, err)
	}
	t.bodies = make([][]byte, len(csrs))
	now := time.Now()
	p := stage("one-time tokens", len(csrs))
	err = forEach(ctx, len(csrs), runtime.GOMAXPROCS(0), p, func(i int) error {
		tok, err := t.token(signer, t.commonName(i), now)
		if err != nil {
			return err
		}
		csrPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csrs[i]})
		t.bodies[i], err = json.Marshal(map[string]string{"csr": string(csrPEM), "ott": tok})
		return err
	})
	p.finish()
	return err
}

// tokenClaims are the claims of `step ca token` for a JWK provisioner
// (smallstep/cli token.DefaultClaims + WithRootCA + WithSANS;
// certificates authority/provisioner/jwk.go authorizeToken checks iss,
// aud, sub, nbf/exp with a minute of leeway, and the jti once).
func tokenClaims(iss, aud, sub, sha, jti string, now time.Time) map[string]any {
	return map[string]any{
		"iss":  iss,
		"aud":  aud, // a string, as the step CLI forces for one audience
		"sub":  sub,
		"sans": []string{sub},
		"sha":  sha,
		"iat":  now.Unix(),
		"nbf":  now.Unix(),
		"exp":  now.Add(tokenLifetime).Unix(),
		"jti":  jti,
	}
}

func (t *stepCATarget) token(signer jose.Signer, cn string, now time.Time) (string, error) {
	var id [32]byte
	if _, err := rand.Read(id[:]); err != nil {
		return "", err
	}
	payload, err := json.Marshal(tokenClaims(t.cfg.stepProvisioner, t.signURL, cn, t.rootSHA, hex.EncodeToString(id[:]), now))
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

func (t *stepCATarget) issue(ctx context.Context, i int) error {
	cctx, cancel := context.WithTimeout(ctx, t.cfg.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(cctx, http.MethodPost, t.signURL, bytes.NewReader(t.bodies[i]))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := t.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if t.protocol.Load() == nil {
		t.protocol.Store(resp.Proto)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var out struct {
		Crt     string `json:"crt"`
		Message string `json:"message"`
	}
	_ = json.Unmarshal(body, &out)
	if resp.StatusCode/100 != 2 {
		msg := out.Message
		if msg == "" {
			msg = oneLine(string(body), 200)
		}
		return &httpError{status: resp.StatusCode, msg: msg}
	}
	if out.Crt == "" {
		return errors.New("step-ca answered without a certificate")
	}
	if t.cfg.saveCert != "" {
		firstCert.keep([]byte(out.Crt))
	}
	return nil
}
