package server_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/signet-ca/signet/ca/adminca"
	"github.com/signet-ca/signet/ca/crlreason"
	"github.com/signet-ca/signet/ca/evidence/evidencetest"
	"github.com/signet-ca/signet/ca/otherca"
	"github.com/signet-ca/signet/ca/proof"
	"github.com/signet-ca/signet/ca/registration"
	signetv1 "github.com/signet-ca/signet/proto/signet/v1"
	"github.com/signet-ca/signet/server"
	"github.com/signet-ca/signet/store/storetest"
)

// otherBank is another bank's CA, served over real HTTP (its CRL and OCSP
// responder), under the harness's clock.
type otherBank struct {
	ca  *otherca.CA
	srv *httptest.Server
	dir string
}

type switchHandler struct{ h atomic.Pointer[http.Handler] }

func (s *switchHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	(*s.h.Load()).ServeHTTP(w, r)
}

func newOtherBank(t testing.TB, now func() time.Time) *otherBank {
	t.Helper()
	sw := &switchHandler{}
	srv := httptest.NewServer(sw)
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	c, err := otherca.Open(dir, srv.URL, now)
	if err != nil {
		t.Fatal(err)
	}
	h := c.Handler()
	sw.h.Store(&h)
	return &otherBank{ca: c, srv: srv, dir: dir}
}

func (o *otherBank) trust(name string) server.OtherCAConfig {
	return server.OtherCAConfig{Name: name, Roots: filepath.Join(o.dir, "root.pem"), Intermediates: filepath.Join(o.dir, "intermediate.pem")}
}

// regHarness is a harness whose trust list holds the other banks given by
// names; each bank runs on the harness's clock.
func newRegHarness(t testing.TB, names ...string) (*harness, map[string]*otherBank) {
	t.Helper()
	return newRegHarnessLimited(t, -1, names...)
}

// newRegHarnessLimited is newRegHarness with a per-person limit of
// subjectMax identity-checked requests an hour (negative: none).
func newRegHarnessLimited(t testing.TB, subjectMax int, names ...string) (*harness, map[string]*otherBank) {
	t.Helper()
	var hp atomic.Pointer[harness]
	start := testStart()
	now := func() time.Time {
		if h := hp.Load(); h != nil {
			return h.clock.Now()
		}
		return start
	}
	banks := map[string]*otherBank{}
	for _, n := range names {
		banks[n] = newOtherBank(t, now)
	}
	h := newHarnessWith(t, func(c *server.Config) {
		c.RateLimits = server.RateLimits{ClientRate: -1, SubjectMax: subjectMax, SubjectWindow: server.Duration(time.Hour)}
		for _, n := range names {
			if n != "untrusted" {
				c.OtherCAs = append(c.OtherCAs, banks[n].trust(n))
			}
		}
	})
	hp.Store(h)
	return h, banks
}

func randomR(t testing.TB) []byte {
	r := make([]byte, 20)
	if _, err := rand.Read(r); err != nil {
		t.Fatal(err)
	}
	return r
}

// issueOther has another bank issue p a certificate with identifyData.
func (o *otherBank) issue(t testing.TB, p evidencetest.Person, r []byte, nb, na time.Time) (*x509.Certificate, crypto.Signer) {
	t.Helper()
	key := newKey(t)
	cert, err := o.ca.Issue(key.Public(), p.Name, p.IDN(), r, "088", nb, na)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func (h *harness) registrations() signetv1.RegistrationServiceClient {
	return signetv1.NewRegistrationServiceClient(h.conn)
}

func (h *harness) startReg(purpose signetv1.RegistrationPurpose) *signetv1.StartRegistrationResponse {
	h.t.Helper()
	ch, err := h.registrations().StartRegistration(ctx(h.t), &signetv1.StartRegistrationRequest{Purpose: purpose})
	if err != nil {
		h.t.Fatalf("StartRegistration: %v", err)
	}
	return ch
}

func (h *harness) signProof(cert *x509.Certificate, key crypto.Signer, method, binding string) string {
	h.t.Helper()
	tok, err := proof.Sign(cert, key, proof.Claims{Audience: audience, Method: method, Binding: binding, IssuedAt: h.clock.Now().Unix()})
	if err != nil {
		h.t.Fatal(err)
	}
	return tok
}

// registerReq is a complete, valid registration of cert for p.
func (h *harness) registerReq(cert *x509.Certificate, key crypto.Signer, p evidencetest.Person, r []byte) *signetv1.RegisterRequest {
	ch := h.startReg(signetv1.RegistrationPurpose_REGISTRATION_PURPOSE_REGISTER)
	return &signetv1.RegisterRequest{ChallengeId: ch.ChallengeId, Proof: h.signProof(cert, key, registration.MethodRegister, ch.Nonce),
		Evidence: h.evidence(ch.Nonce, p), HolderIdentity: &signetv1.HolderIdentity{Idn: p.IDN(), RandomNum: r}}
}

func (h *harness) register(cert *x509.Certificate, key crypto.Signer, p evidencetest.Person, r []byte) (*signetv1.Registration, error) {
	resp, err := h.registrations().Register(ctx(h.t), h.registerReq(cert, key, p, r))
	return resp.GetRegistration(), err
}

func (h *harness) unregisterByProof(cert *x509.Certificate, key crypto.Signer, reason string) (*signetv1.Registration, error) {
	ch := h.startReg(signetv1.RegistrationPurpose_REGISTRATION_PURPOSE_UNREGISTER)
	resp, err := h.registrations().Unregister(ctx(h.t), &signetv1.UnregisterRequest{ChallengeId: ch.ChallengeId, Reason: reason,
		Proof: h.signProof(cert, key, registration.MethodUnregister, registration.BindUnregister(ch.Nonce, reason))})
	return resp.GetRegistration(), err
}

func (h *harness) listByProof(cert *x509.Certificate, key crypto.Signer) ([]*signetv1.Registration, error) {
	ch := h.startReg(signetv1.RegistrationPurpose_REGISTRATION_PURPOSE_LIST)
	resp, err := h.registrations().ListRegistrations(ctx(h.t), &signetv1.ListRegistrationsRequest{ChallengeId: ch.ChallengeId,
		Proof: h.signProof(cert, key, registration.MethodList, registration.BindList(ch.Nonce))})
	return resp.GetRegistrations(), err
}

func (h *harness) signInWith(cert *x509.Certificate, key crypto.Signer) (*signetv1.VerifyResponse, error) {
	return h.signIn(h.t, &signetv1.Certificate{Der: cert.Raw}, key)
}

// wantRefusal checks a refusal's code and its audited reason.
func (h *harness) wantRefusal(err error, code codes.Code, reason string) {
	h.t.Helper()
	if status.Code(err) != code {
		h.t.Fatalf("got %v, want %s (%s)", err, code, reason)
	}
	if _, _, got := h.lastRefusal(); got != reason {
		h.t.Fatalf("audited reason %q, want %q (%v)", got, reason, err)
	}
}

// A person registers another bank's certificate, signs in with it, lists
// it beside their Signet certificate, and unregisters it; the certificate
// then no longer signs in.
func TestRegistration_RegisterSignInListUnregister(t *testing.T) {
	h, banks := newRegHarness(t, "k-bank")
	bank := banks["k-bank"]
	p := evidencetest.DefaultPerson()
	now := h.clock.Now()
	r := randomR(t)
	cert, key := bank.issue(t, p, r, now.Add(-time.Hour), now.AddDate(1, 0, 0))

	reg, err := h.register(cert, key, p, r)
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	if reg.Status != "active" || reg.TrustCa != "k-bank" || reg.Serial != cert.SerialNumber.Text(16) || reg.CheckStatus != "good" || reg.CheckSource != "ocsp" {
		t.Fatalf("registration %+v", reg)
	}
	if n := value(h.scrape(), "signet_other_ca_status_checks_total", map[string]string{"source": "ocsp", "outcome": "good"}); n < 1 {
		t.Errorf("signet_other_ca_status_checks_total{source=ocsp,outcome=good} = %v, want the check counted", n)
	}
	again, err := h.register(cert, key, p, r)
	if err != nil || again.RegistrationId != reg.RegistrationId {
		t.Fatalf("register again: %v, id %s want %s", err, again.GetRegistrationId(), reg.RegistrationId)
	}

	id, err := h.signInWith(cert, key)
	if err != nil {
		t.Fatalf("sign in: %v", err)
	}
	if id.Registration != "registered" || id.RegistrationId != reg.RegistrationId || id.TrustCa != "k-bank" ||
		string(id.Certificate) != string(cert.Raw) || id.SubjectRef == "" {
		t.Fatalf("identity %+v", id)
	}
	// The same person's own Signet certificate answers the same subject_ref.
	own, ownKey := h.issue(p, banking)
	ownID, err := h.signIn(t, own, ownKey)
	if err != nil || ownID.SubjectRef != id.SubjectRef || ownID.RegistrationId != "signet" {
		t.Fatalf("Signet certificate: %v %+v, want subject %s", err, ownID, id.SubjectRef)
	}

	list, err := h.listByProof(cert, key)
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	kinds := map[string]string{}
	for _, l := range list {
		kinds[l.TrustCa] = l.Status
	}
	if len(list) != 2 || kinds["k-bank"] != "active" || kinds["signet"] != "active" {
		t.Fatalf("list %v", kinds)
	}

	un, err := h.unregisterByProof(cert, key, "no longer used")
	if err != nil || un.Status != "unregistered" || un.Reason != "no longer used" {
		t.Fatalf("unregister: %v %+v", err, un)
	}
	_, err = h.signInWith(cert, key)
	h.wantRefusal(err, codes.NotFound, "unregistered")
	_, err = h.unregisterByProof(cert, key, "again")
	h.wantRefusal(err, codes.NotFound, "not_registered")

	// Registering again makes a new registration.
	back, err := h.register(cert, key, p, r)
	if err != nil || back.RegistrationId == reg.RegistrationId {
		t.Fatalf("register after unregister: %v %+v", err, back)
	}
	if _, err := h.signInWith(cert, key); err != nil {
		t.Fatalf("sign in after registering again: %v", err)
	}

	var n int
	if err := h.pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_events WHERE action IN ('register', 'unregister') AND outcome = 'ok'`).Scan(&n); err != nil || n != 4 {
		t.Fatalf("audited registrations: %d (%v), want 4", n, err)
	}
}

// Signet's own certificate is registered implicitly; its holder can
// unregister it here (it then stops signing in) and register it again.
// A retry with the request_id of a Register whose answer was lost gets the
// first answer back, even after its challenge and evidence are spent and
// the challenge has expired; the same id for another request is refused.
func TestRegistration_RetryWithRequestIDGetsTheFirstAnswer(t *testing.T) {
	h, banks := newRegHarness(t, "k-bank")
	bank := banks["k-bank"]
	p := evidencetest.DefaultPerson()
	now := h.clock.Now()
	r := randomR(t)
	cert, key := bank.issue(t, p, r, now.Add(-time.Hour), now.AddDate(1, 0, 0))

	req := h.registerReq(cert, key, p, r)
	req.RequestId = uuid.NewString()
	first, err := h.registrations().Register(ctx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	h.clock.Set(now.Add(time.Hour)) // the challenge and the evidence are stale now
	again, err := h.registrations().Register(ctx(t), req)
	if err != nil || again.Registration.RegistrationId != first.Registration.RegistrationId {
		t.Fatalf("retry: %v, registration %s, want the first answer %s", err, again.GetRegistration().GetRegistrationId(), first.Registration.RegistrationId)
	}
	var rows int
	if err := h.pool.QueryRow(ctx(t), `SELECT count(*) FROM registrations`).Scan(&rows); err != nil || rows != 1 {
		t.Fatalf("%d registrations (%v), want 1", rows, err)
	}

	// The same id for another request, and a malformed id.
	other, otherKey := bank.issue(t, p, r, h.clock.Now().Add(-time.Hour), h.clock.Now().AddDate(1, 0, 0))
	second := h.registerReq(other, otherKey, p, r)
	second.RequestId = req.RequestId
	_, err = h.registrations().Register(ctx(t), second)
	h.wantRefusal(err, codes.AlreadyExists, "request_id_reused")
	second = h.registerReq(other, otherKey, p, r)
	second.RequestId = "x"
	_, err = h.registrations().Register(ctx(t), second)
	h.wantRefusal(err, codes.InvalidArgument, "bad_request_id")
	// Without a request id, a repeat is what it always was: a spent challenge.
	third := h.registerReq(other, otherKey, p, r)
	if _, err := h.registrations().Register(ctx(t), third); err != nil {
		t.Fatal(err)
	}
	_, err = h.registrations().Register(ctx(t), third)
	if status.Code(err) == codes.OK {
		t.Fatal("a repeat without a request id was accepted twice")
	}
}

func TestRegistration_SignetCertificateUnregisterAndRegisterAgain(t *testing.T) {
	h, _ := newRegHarness(t)
	p := evidencetest.DefaultPerson()
	c, key := h.issue(p, banking)
	cert, err := x509.ParseCertificate(c.Der)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.unregisterByProof(cert, key, "moving to another bank"); err != nil {
		t.Fatalf("unregister: %v", err)
	}
	_, err = h.signInWith(cert, key)
	h.wantRefusal(err, codes.NotFound, "unregistered")
	holder := holderOf(p)
	reg, err := h.register(cert, key, p, holder.RandomNum)
	if err != nil || reg.TrustCa != "signet" || reg.Status != "active" {
		t.Fatalf("register a Signet certificate: %v %+v", err, reg)
	}
	id, err := h.signInWith(cert, key)
	if err != nil || id.RegistrationId != reg.RegistrationId || id.Registration != "signet" {
		t.Fatalf("sign in: %v %+v", err, id)
	}
}

// Every way a registration is refused, with its code and audited reason.
func TestRegistration_Refusals(t *testing.T) {
	h, banks := newRegHarness(t, "k-bank", "down-bank", "untrusted")
	bank := banks["k-bank"]
	p := evidencetest.DefaultPerson()
	now := h.clock.Now()
	year := now.AddDate(1, 0, 0)
	r := randomR(t)
	rc := h.registrations()

	t.Run("untrusted chain", func(t *testing.T) {
		cert, key := banks["untrusted"].issue(t, p, r, now.Add(-time.Hour), year)
		_, err := h.register(cert, key, p, r)
		h.wantRefusal(err, codes.PermissionDenied, "untrusted_issuer")
	})
	t.Run("expired", func(t *testing.T) {
		cert, key := bank.issue(t, p, r, now.AddDate(-1, 0, -1), now.Add(-time.Hour))
		_, err := h.register(cert, key, p, r)
		h.wantRefusal(err, codes.FailedPrecondition, "expired")
	})
	cert, key := bank.issue(t, p, r, now.Add(-time.Hour), year)
	t.Run("wrong idn", func(t *testing.T) {
		req := h.registerReq(cert, key, p, r)
		req.HolderIdentity.Idn = p.IDN()[:7] + "999999"
		_, err := rc.Register(ctx(t), req)
		h.wantRefusal(err, codes.PermissionDenied, "vid_mismatch")
	})
	t.Run("wrong R", func(t *testing.T) {
		_, err := h.register(cert, key, p, randomR(t))
		h.wantRefusal(err, codes.PermissionDenied, "vid_mismatch")
	})
	t.Run("idn of another birth date", func(t *testing.T) {
		req := h.registerReq(cert, key, p, r)
		req.HolderIdentity.Idn = "8501011234567"
		_, err := rc.Register(ctx(t), req)
		h.wantRefusal(err, codes.PermissionDenied, "idn_not_person")
	})
	t.Run("malformed idn", func(t *testing.T) {
		req := h.registerReq(cert, key, p, r)
		req.HolderIdentity.Idn = "900101-1234567"
		_, err := rc.Register(ctx(t), req)
		h.wantRefusal(err, codes.InvalidArgument, "bad_idn")
	})
	t.Run("another person's evidence", func(t *testing.T) {
		other := evidencetest.Person{Name: "김철수", Birth: p.Birth, Phone: "01099998888", Carrier: "KT", Bank: "088", Account: "11112222333344"}
		_, err := h.register(cert, key, other, r)
		h.wantRefusal(err, codes.PermissionDenied, "name_mismatch")
	})
	t.Run("bad key proof", func(t *testing.T) {
		req := h.registerReq(cert, key, p, r)
		parts := strings.Split(req.Proof, ".")
		sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
		sig[len(sig)/2] ^= 0xff
		req.Proof = parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(sig)
		_, err := rc.Register(ctx(t), req)
		h.wantRefusal(err, codes.Unauthenticated, "bad_proof")
	})
	t.Run("proof over another challenge", func(t *testing.T) {
		req := h.registerReq(cert, key, p, r)
		req.Proof = h.signProof(cert, key, registration.MethodRegister, "another nonce")
		_, err := rc.Register(ctx(t), req)
		h.wantRefusal(err, codes.Unauthenticated, "proof_binding")
	})
	t.Run("evidence for another challenge", func(t *testing.T) {
		req := h.registerReq(cert, key, p, r)
		other := h.startReg(signetv1.RegistrationPurpose_REGISTRATION_PURPOSE_REGISTER)
		req.Evidence = h.evidence(other.Nonce, p)
		_, err := rc.Register(ctx(t), req)
		h.wantRefusal(err, codes.Unauthenticated, "evidence_wrong_nonce")
	})
	t.Run("challenge of another purpose", func(t *testing.T) {
		req := h.registerReq(cert, key, p, r)
		ch := h.startReg(signetv1.RegistrationPurpose_REGISTRATION_PURPOSE_LIST)
		req.ChallengeId = ch.ChallengeId
		_, err := rc.Register(ctx(t), req)
		h.wantRefusal(err, codes.InvalidArgument, "wrong_purpose")
	})
	t.Run("replayed challenge and evidence", func(t *testing.T) {
		req := h.registerReq(cert, key, p, r)
		if _, err := rc.Register(ctx(t), req); err != nil {
			t.Fatalf("first: %v", err)
		}
		_, err := rc.Register(ctx(t), req)
		h.wantRefusal(err, codes.Unauthenticated, "challenge_replayed")
		if _, err := h.unregisterByProof(cert, key, "test"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("stale evidence and challenge", func(t *testing.T) {
		req := h.registerReq(cert, key, p, r)
		h.clock.Advance(11 * time.Minute)
		_, err := rc.Register(ctx(t), req)
		h.wantRefusal(err, codes.FailedPrecondition, "challenge_expired")
	})
	t.Run("registered to another person", func(t *testing.T) {
		other, otherKey := bank.issue(t, p, r, now.Add(-time.Hour), year)
		if _, err := h.register(other, otherKey, p, r); err != nil {
			t.Fatal(err)
		}
		if _, err := h.pool.Exec(context.Background(), `UPDATE registrations SET subject_ref = 'someone-else' WHERE serial = $1`, other.SerialNumber.Text(16)); err != nil {
			t.Fatal(err)
		}
		_, err := h.register(other, otherKey, p, r)
		h.wantRefusal(err, codes.AlreadyExists, "registered_to_another")
	})
	t.Run("revoked at its CA", func(t *testing.T) {
		rev, revKey := bank.issue(t, p, r, now.Add(-time.Hour), year)
		if err := bank.ca.Revoke(rev.SerialNumber, crlreason.KeyCompromise, h.clock.Now().Add(-time.Minute)); err != nil {
			t.Fatal(err)
		}
		_, err := h.register(rev, revKey, p, r)
		h.wantRefusal(err, codes.FailedPrecondition, "revoked_at_ca")
		if !strings.Contains(status.Convert(err).Message(), "keyCompromise") {
			t.Errorf("message %q does not name the reason", status.Convert(err).Message())
		}
	})
	t.Run("CA unreachable", func(t *testing.T) {
		down := banks["down-bank"]
		c, k := down.issue(t, p, r, now.Add(-time.Hour), year)
		down.srv.Close()
		start := time.Now()
		_, err := h.register(c, k, p, r)
		h.wantRefusal(err, codes.Unavailable, "ca_unreachable")
		var retry bool
		for _, d := range status.Convert(err).Details() {
			if ri, ok := d.(*errdetails.RetryInfo); ok && ri.RetryDelay.AsDuration() == server.OtherCARetryDelay {
				retry = true
			}
		}
		if !retry || !strings.Contains(status.Convert(err).Message(), "down-bank") {
			t.Errorf("unreachable: %v, want a RetryInfo and the CA's name", err)
		}
		if took := time.Since(start); took > 12*time.Second {
			t.Errorf("an unreachable CA took %s to refuse", took)
		}
		if n := value(h.scrape(), "signet_other_ca_status_checks_total", map[string]string{"source": "", "outcome": "unreachable"}); n < 1 {
			t.Errorf("signet_other_ca_status_checks_total{outcome=unreachable} = %v, want the failed check counted", n)
		}
	})
}

// A revocation at the other CA stops sign-in at once (live status), and
// the recheck job records it with an audit event.
func TestRegistration_RevokedAtCA_RecheckRecordsAndSignInRefuses(t *testing.T) {
	h, banks := newRegHarness(t, "k-bank")
	bank := banks["k-bank"]
	p := evidencetest.DefaultPerson()
	now := h.clock.Now()
	r := randomR(t)
	cert, key := bank.issue(t, p, r, now.Add(-time.Hour), now.AddDate(1, 0, 0))
	renewed, renewedKey := bank.issue(t, p, r, now.Add(-time.Hour), now.AddDate(1, 0, 0))
	for _, c := range []struct {
		cert *x509.Certificate
		key  crypto.Signer
	}{{cert, key}, {renewed, renewedKey}} {
		if _, err := h.register(c.cert, c.key, p, r); err != nil {
			t.Fatal(err)
		}
		if _, err := h.signInWith(c.cert, c.key); err != nil {
			t.Fatalf("sign in: %v", err)
		}
	}
	if err := bank.ca.Revoke(cert.SerialNumber, crlreason.KeyCompromise, h.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if err := bank.ca.Revoke(renewed.SerialNumber, crlreason.Superseded, h.clock.Now()); err != nil {
		t.Fatal(err)
	}
	// Past the cached OCSP answers' nextUpdate, and past RecheckAfter.
	h.clock.Advance(2 * time.Hour)
	n, err := h.built.Registrations.Recheck(context.Background())
	if err != nil || n != 2 {
		t.Fatalf("recheck: %d changed, %v; want 2", n, err)
	}
	var statuses []string
	rows, err := h.pool.Query(context.Background(), `SELECT status || ':' || coalesce(status_reason, '') FROM registrations ORDER BY serial = $1 DESC`, cert.SerialNumber.Text(16))
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var s string
		_ = rows.Scan(&s)
		statuses = append(statuses, s)
	}
	rows.Close()
	if strings.Join(statuses, ",") != "revoked:keyCompromise,replaced:superseded" {
		t.Fatalf("statuses %v", statuses)
	}
	var events int
	if err := h.pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_events WHERE action = 'registration_status'`).Scan(&events); err != nil || events != 2 {
		t.Fatalf("registration_status events: %d (%v), want 2", events, err)
	}
	_, err = h.signInWith(cert, key)
	h.wantRefusal(err, codes.FailedPrecondition, "revoked")
	_, err = h.signInWith(renewed, renewedKey)
	h.wantRefusal(err, codes.FailedPrecondition, "replaced")
	if n, err := h.built.Registrations.Recheck(context.Background()); err != nil || n != 0 {
		t.Fatalf("second recheck: %d, %v; want nothing new", n, err)
	}
}

// Sign-in sees a revocation at the other CA without waiting for the
// recheck job, once the cached answer is past its nextUpdate, and records it.
func TestRegistration_SignInRefusals(t *testing.T) {
	h, banks := newRegHarness(t, "k-bank", "untrusted")
	bank := banks["k-bank"]
	p := evidencetest.DefaultPerson()
	now := h.clock.Now()
	r := randomR(t)
	cert, key := bank.issue(t, p, r, now.Add(-time.Hour), now.AddDate(1, 0, 0))
	if _, err := h.register(cert, key, p, r); err != nil {
		t.Fatal(err)
	}
	// Unknown issuer.
	stranger, strangerKey := banks["untrusted"].issue(t, p, r, now.Add(-time.Hour), now.AddDate(1, 0, 0))
	_, err := h.signInWith(stranger, strangerKey)
	h.wantRefusal(err, codes.PermissionDenied, "untrusted_issuer")
	// Trusted but never registered.
	unreg, unregKey := bank.issue(t, p, r, now.Add(-time.Hour), now.AddDate(1, 0, 0))
	_, err = h.signInWith(unreg, unregKey)
	h.wantRefusal(err, codes.NotFound, "unregistered")
	// Bad signature: signed by another key.
	auth := signetv1.NewAuthenticationServiceClient(h.conn)
	ch, err := auth.Challenge(ctx(t), &signetv1.ChallengeRequest{})
	if err != nil {
		t.Fatal(err)
	}
	tok := h.signProof(cert, key, "/signet.v1.AuthenticationService/Verify", ch.Challenge)
	parts := strings.Split(tok, ".")
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	sig[3] ^= 1
	_, err = auth.Verify(ctx(t), &signetv1.VerifyRequest{ChallengeId: ch.ChallengeId, Proof: parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(sig)})
	h.wantRefusal(err, codes.Unauthenticated, "bad_signature")
	// Replayed challenge.
	good := h.signProof(cert, key, "/signet.v1.AuthenticationService/Verify", ch.Challenge)
	if _, err := auth.Verify(ctx(t), &signetv1.VerifyRequest{ChallengeId: ch.ChallengeId, Proof: good}); err != nil {
		t.Fatal(err)
	}
	_, err = auth.Verify(ctx(t), &signetv1.VerifyRequest{ChallengeId: ch.ChallengeId, Proof: h.signProof(cert, key, "/signet.v1.AuthenticationService/Verify", ch.Challenge)})
	h.wantRefusal(err, codes.Unauthenticated, "challenge_replayed")
	// Revoked at its CA, seen live once the cached answer is stale.
	if err := bank.ca.Revoke(cert.SerialNumber, crlreason.CessationOfOperation, h.clock.Now()); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(2 * time.Minute)
	_, err = h.signInWith(cert, key)
	h.wantRefusal(err, codes.FailedPrecondition, "revoked")
	var st string
	if err := h.pool.QueryRow(context.Background(), `SELECT status FROM registrations WHERE serial = $1`, cert.SerialNumber.Text(16)).Scan(&st); err != nil || st != "revoked" {
		t.Fatalf("registration status %q (%v), want revoked", st, err)
	}
	// Expired.
	h.clock.Advance(366 * 24 * time.Hour)
	_, err = h.signInWith(unreg, unregKey)
	h.wantRefusal(err, codes.FailedPrecondition, "expired")
}

// An operator unregisters a registration on the admin listener; an
// auditor may not.
func TestRegistration_AdminUnregister(t *testing.T) {
	h, banks := newRegHarness(t, "k-bank")
	p := evidencetest.DefaultPerson()
	now := h.clock.Now()
	r := randomR(t)
	cert, key := banks["k-bank"].issue(t, p, r, now.Add(-time.Hour), now.AddDate(1, 0, 0))
	reg, err := h.register(cert, key, p, r)
	if err != nil {
		t.Fatal(err)
	}
	req := &signetv1.AdminUnregisterRequest{RegistrationId: reg.RegistrationId, Reason: "fraud report", Comment: "ticket 42"}
	if _, err := h.regAdmin(h.staff(adminca.RoleAuditor, "kim.auditor")).AdminUnregister(ctx(t), req); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("auditor: %v, want PermissionDenied", err)
	}
	out, err := h.regAdmin(h.staff(adminca.RoleOperator, "lee.operator")).AdminUnregister(ctx(t), req)
	if err != nil || out.Registration.Status != "unregistered" {
		t.Fatalf("operator: %v %+v", err, out)
	}
	var actor string
	if err := h.pool.QueryRow(context.Background(), `SELECT actor FROM audit_events WHERE action = 'unregister' AND outcome = 'ok'`).Scan(&actor); err != nil || actor != "operator:lee.operator" {
		t.Fatalf("audited actor %q (%v)", actor, err)
	}
	_, err = h.signInWith(cert, key)
	h.wantRefusal(err, codes.NotFound, "unregistered")
	// A holder who lost the key unregisters with evidence instead.
	cert2, key2 := banks["k-bank"].issue(t, p, r, now.Add(-time.Hour), now.AddDate(1, 0, 0))
	reg2, err := h.register(cert2, key2, p, r)
	if err != nil {
		t.Fatal(err)
	}
	ch := h.startReg(signetv1.RegistrationPurpose_REGISTRATION_PURPOSE_UNREGISTER)
	if _, err := h.registrations().Unregister(ctx(t), &signetv1.UnregisterRequest{ChallengeId: ch.ChallengeId, Reason: "lost phone",
		Evidence: h.evidence(ch.Nonce, p), RegistrationId: reg2.RegistrationId}); err != nil {
		t.Fatalf("unregister by evidence: %v", err)
	}
	ch = h.startReg(signetv1.RegistrationPurpose_REGISTRATION_PURPOSE_LIST)
	list, err := h.registrations().ListRegistrations(ctx(t), &signetv1.ListRegistrationsRequest{ChallengeId: ch.ChallengeId, Evidence: h.evidence(ch.Nonce, p)})
	if err != nil || len(list.Registrations) != 2 {
		t.Fatalf("list by evidence: %v %d", err, len(list.GetRegistrations()))
	}
	for _, l := range list.Registrations {
		if l.Status != "unregistered" {
			t.Errorf("%s is %s", l.RegistrationId, l.Status)
		}
	}
}

func (h *harness) regAdmin(cert *tls.Certificate) signetv1.RegistrationAdminServiceClient {
	h.t.Helper()
	tc := &tls.Config{RootCAs: h.roots, ServerName: "127.0.0.1", Certificates: []tls.Certificate{*cert}}
	conn, err := grpc.NewClient(h.admin, grpc.WithTransportCredentials(credentials.NewTLS(tc)))
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { conn.Close() })
	return signetv1.NewRegistrationAdminServiceClient(conn)
}

// The resident number and R are used in memory only: no table, audit
// event or log line holds them, in any encoding, after registrations,
// refusals, sign-ins and an unregistration.
func TestRegistration_IDNAndRNeverStoredOrLogged(t *testing.T) {
	h, banks := newRegHarness(t, "k-bank")
	p := evidencetest.DefaultPerson()
	now := h.clock.Now()
	r := randomR(t)
	cert, key := banks["k-bank"].issue(t, p, r, now.Add(-time.Hour), now.AddDate(1, 0, 0))
	if _, err := h.register(cert, key, p, r); err != nil {
		t.Fatal(err)
	}
	wrong := p.IDN()[:7] + "765432"
	req := h.registerReq(cert, key, p, r)
	req.HolderIdentity.Idn = wrong
	if _, err := h.registrations().Register(ctx(t), req); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("wrong idn: %v", err)
	}
	req = h.registerReq(cert, key, p, r)
	req.HolderIdentity.Idn = wrong + "\x00"
	if _, err := h.registrations().Register(ctx(t), req); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("idn with NUL: %v", err)
	}
	if _, err := h.signInWith(cert, key); err != nil {
		t.Fatal(err)
	}
	if _, err := h.unregisterByProof(cert, key, "done"); err != nil {
		t.Fatal(err)
	}
	secrets := map[string]string{
		"idn": p.IDN(), "wrong idn": wrong, "R hex": hex.EncodeToString(r), "R base64": base64.StdEncoding.EncodeToString(r),
		"R base64url": base64.RawURLEncoding.EncodeToString(r), "R decimal": new(big.Int).SetBytes(r).String(),
	}
	dump := h.dumpDatabase()
	logs := h.logs.String()
	for what, s := range secrets {
		if strings.Contains(dump, s) {
			t.Errorf("the database holds the %s", what)
		}
		if strings.Contains(logs, s) {
			t.Errorf("the logs hold the %s", what)
		}
	}
	if !strings.Contains(dump, cert.SerialNumber.Text(16)) {
		t.Fatal("the dump does not even hold the serial: it is not a dump")
	}
}

// dumpDatabase renders every row of every table (bytea as hex, the way
// PostgreSQL prints it) as one string.
func (h *harness) dumpDatabase() string {
	h.t.Helper()
	bg := context.Background()
	rows, err := h.pool.Query(bg, `SELECT tablename FROM pg_tables WHERE schemaname = 'public'`)
	if err != nil {
		h.t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		_ = rows.Scan(&n)
		tables = append(tables, n)
	}
	rows.Close()
	var b strings.Builder
	for _, tb := range tables {
		rows, err := h.pool.Query(bg, `SELECT t::text FROM "`+tb+`" t`)
		if err != nil {
			h.t.Fatal(err)
		}
		for rows.Next() {
			var s string
			_ = rows.Scan(&s)
			b.WriteString(s)
			b.WriteByte('\n')
		}
		rows.Close()
	}
	return b.String()
}

// BenchmarkLoginRegistered is sign-ins per second with another bank's
// registered certificate: Challenge + Verify over gRPC/TLS, the proof's
// signature, the chain to the trust list, the registration read, the
// live status at the other CA (an OCSP answer cached until its
// nextUpdate), the challenge spent and the verification audited.
//
//	go test ./server -run '^$' -bench LoginRegistered -benchtime 2000x -cpu 2
func BenchmarkLoginRegistered(b *testing.B) {
	h, banks := newRegHarness(b, "k-bank")
	p := evidencetest.DefaultPerson()
	now := h.clock.Now()
	r := randomR(b)
	cert, key := banks["k-bank"].issue(b, p, r, now.Add(-time.Hour), now.AddDate(1, 0, 0))
	if _, err := h.register(cert, key, p, r); err != nil {
		b.Fatal(err)
	}
	var failed atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := h.signInWith(cert, key); err != nil {
				failed.Add(1)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "logins/s")
	if failed.Load() > 0 {
		b.Fatalf("%d sign-ins failed", failed.Load())
	}
}

// A trust list entry that cannot validate anything stops the start, with
// the entry named.
func TestBuild_RefusesABadTrustList(t *testing.T) {
	bank := newOtherBank(t, time.Now)
	dbURL := storetest.NewDatabase(t)
	for name, entry := range map[string]server.OtherCAConfig{
		"missing file":             {Name: "k-bank", Roots: filepath.Join(bank.dir, "nope.pem")},
		"intermediate as the root": {Name: "k-bank", Roots: filepath.Join(bank.dir, "intermediate.pem")},
		"no name":                  {Roots: filepath.Join(bank.dir, "root.pem")},
	} {
		cfg := productionConfig(t, serviceRole(t, dbURL), dbURL)
		cfg.OtherCAs = []server.OtherCAConfig{entry}
		b, err := server.Build(context.Background(), cfg, time.Now, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err == nil {
			b.Close()
			t.Fatalf("%s: Build accepted the trust list", name)
		}
		if !strings.Contains(err.Error(), "otherCAs") {
			t.Errorf("%s: %v; want it to name otherCAs", name, err)
		}
	}
}

// Registration requests proved by identity evidence count against the
// person's limit, like issuance's.
func TestRegistration_PersonLimit(t *testing.T) {
	h, banks := newRegHarnessLimited(t, 2, "k-bank")
	p := evidencetest.DefaultPerson()
	now := h.clock.Now()
	r := randomR(t)
	for i := 0; i < 2; i++ {
		cert, key := banks["k-bank"].issue(t, p, r, now.Add(-time.Hour), now.AddDate(1, 0, 0))
		if _, err := h.register(cert, key, p, r); err != nil {
			t.Fatalf("registration %d: %v", i+1, err)
		}
	}
	cert, key := banks["k-bank"].issue(t, p, r, now.Add(-time.Hour), now.AddDate(1, 0, 0))
	_, err := h.register(cert, key, p, r)
	h.wantRefusal(err, codes.ResourceExhausted, "rate_limited")
	h.clock.Advance(time.Hour)
	if _, err := h.register(cert, key, p, r); err != nil {
		t.Fatalf("in the next window: %v", err)
	}
}
