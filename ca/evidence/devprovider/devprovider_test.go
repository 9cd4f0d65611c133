package devprovider_test

import (
	"errors"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signet-ca/signet/ca/evidence"
	"github.com/signet-ca/signet/ca/evidence/devprovider"
)

const (
	aud   = "signet.dev.test"
	nonce = "n-dev-1"
)

// clock is a settable test clock, safe for the concurrent test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var (
	hong    = devprovider.PhoneRequest{Name: "홍길동", Birth: "19900101", Phone: "01012345678", Carrier: "SKT"}
	hongAcc = devprovider.AccountRequest{Bank: "004", Account: "12345678901234", HolderName: "홍길동", HolderBirth: "19900101"}
)

func setup(t *testing.T) (*devprovider.Simulator, *clock) {
	t.Helper()
	c := &clock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	s, err := devprovider.New(aud, c.Now)
	if err != nil {
		t.Fatal(err)
	}
	return s, c
}

func phoneToken(t *testing.T, s *devprovider.Simulator, n string, r devprovider.PhoneRequest) string {
	t.Helper()
	id, code, err := s.StartPhoneCheck(n, r)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s.ConfirmPhoneCheck(id, code)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func accountToken(t *testing.T, s *devprovider.Simulator, n string, r devprovider.AccountRequest) string {
	t.Helper()
	id, code, err := s.StartAccountCheck(n, r)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s.ConfirmAccountCheck(id, code)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestHappyPath(t *testing.T) {
	s, c := setup(t)
	pid, pcode, err := s.StartPhoneCheck(nonce, hong)
	if err != nil {
		t.Fatal(err)
	}
	aid, acode, err := s.StartAccountCheck(nonce, hongAcc)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^\d{6}$`).MatchString(pcode) || !regexp.MustCompile(`^\d{4}$`).MatchString(acode) {
		t.Fatalf("codes %q %q: want 6 and 4 digits", pcode, acode)
	}
	if pid == aid || pid == "" {
		t.Fatalf("check ids %q %q", pid, aid)
	}
	c.Add(4 * time.Minute) // the user takes a while to type the codes
	ptok, err := s.ConfirmPhoneCheck(pid, pcode)
	if err != nil {
		t.Fatal(err)
	}
	atok, err := s.ConfirmAccountCheck(aid, acode)
	if err != nil {
		t.Fatal(err)
	}

	v, err := evidence.NewVerifier(aud, s.Providers(), c.Now)
	if err != nil {
		t.Fatal(err)
	}
	id, err := v.Verify(ptok, atok, nonce)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if id.CI != devprovider.SimulatedCI("홍길동", "19900101") || len(id.CI) != 88 || evidence.ValidCI(id.CI) != nil {
		t.Errorf("CI = %q", id.CI)
	}
	if id.Name != "홍길동" || id.Birth != "19900101" || id.Phone != hong.Phone || id.Carrier != "SKT" || id.Bank != "004" || id.Account != hongAcc.Account {
		t.Errorf("identity = %+v", id)
	}
	if len(id.JTIs) != 2 || !strings.HasPrefix(id.JTIs[0], "dev-phone/") || !strings.HasPrefix(id.JTIs[1], "dev-account/") {
		t.Errorf("JTIs = %v", id.JTIs)
	}

	// The tokens expire like real ones: 10 minutes after confirmation.
	c.Add(10*time.Minute + time.Second)
	if _, err := v.Verify(ptok, atok, nonce); evidence.ReasonOf(err) != evidence.ReasonExpired {
		t.Errorf("stale dev tokens: %v", err)
	}
}

func TestCIDeterministic(t *testing.T) {
	s1, c := setup(t)
	s2, _ := setup(t)
	v1, _ := evidence.NewVerifier(aud, s1.Providers(), c.Now)
	v2, _ := evidence.NewVerifier(aud, s2.Providers(), c.Now)
	p1, err := v1.VerifyPhone(phoneToken(t, s1, nonce, hong), nonce)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := v2.VerifyPhone(phoneToken(t, s2, nonce, hong), nonce)
	if err != nil {
		t.Fatal(err)
	}
	if p1.CI != p2.CI || p1.DI != p2.DI {
		t.Error("the same person must get the same CI and DI")
	}
	if p1.CI == p1.DI || p1.CI == devprovider.SimulatedCI("김철수", "19900101") {
		t.Error("CI must differ from DI and between people")
	}
}

func TestVerifyRejectsMisuse(t *testing.T) {
	s, c := setup(t)
	other, _ := setup(t)
	v, err := evidence.NewVerifier(aud, s.Providers(), c.Now)
	if err != nil {
		t.Fatal(err)
	}
	kim := hongAcc
	kim.HolderName = "김철수"
	tests := []struct {
		name           string
		phone, account string
		want           evidence.Reason
	}{
		{"account of another person", phoneToken(t, s, nonce, hong), accountToken(t, s, nonce, kim), evidence.ReasonMismatch},
		{"another enrollment's nonce", phoneToken(t, s, "n-other", hong), accountToken(t, s, nonce, hongAcc), evidence.ReasonNonce},
		{"another simulator's keys", phoneToken(t, other, nonce, hong), accountToken(t, s, nonce, hongAcc), evidence.ReasonUntrusted},
		{"swapped", accountToken(t, s, nonce, hongAcc), phoneToken(t, s, nonce, hong), evidence.ReasonKind},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := v.Verify(tc.phone, tc.account, nonce); evidence.ReasonOf(err) != tc.want {
				t.Fatalf("got %v, want %s", err, tc.want)
			}
		})
	}
}

func TestStartValidation(t *testing.T) {
	s, _ := setup(t)
	phone := func(f func(*devprovider.PhoneRequest)) devprovider.PhoneRequest { r := hong; f(&r); return r }
	acc := func(f func(*devprovider.AccountRequest)) devprovider.AccountRequest { r := hongAcc; f(&r); return r }
	tests := []struct {
		name    string
		start   func() error
		mention string
	}{
		{"empty nonce", func() error { _, _, err := s.StartPhoneCheck("", hong); return err }, "nonce"},
		{"empty name", func() error {
			_, _, err := s.StartPhoneCheck(nonce, phone(func(r *devprovider.PhoneRequest) { r.Name = " " }))
			return err
		}, "name"},
		{"bad birth", func() error {
			_, _, err := s.StartPhoneCheck(nonce, phone(func(r *devprovider.PhoneRequest) { r.Birth = "19901332" }))
			return err
		}, "birth date"},
		{"bad phone", func() error {
			_, _, err := s.StartPhoneCheck(nonce, phone(func(r *devprovider.PhoneRequest) { r.Phone = "0212345678" }))
			return err
		}, "phone number"},
		{"bad carrier", func() error {
			_, _, err := s.StartPhoneCheck(nonce, phone(func(r *devprovider.PhoneRequest) { r.Carrier = "XYZ" }))
			return err
		}, "carrier"},
		{"bad bank", func() error {
			_, _, err := s.StartAccountCheck(nonce, acc(func(r *devprovider.AccountRequest) { r.Bank = "4" }))
			return err
		}, "bank code"},
		{"bad account", func() error {
			_, _, err := s.StartAccountCheck(nonce, acc(func(r *devprovider.AccountRequest) { r.Account = "12-34" }))
			return err
		}, "account number"},
		{"bad holder birth", func() error {
			_, _, err := s.StartAccountCheck(nonce, acc(func(r *devprovider.AccountRequest) { r.HolderBirth = "900101" }))
			return err
		}, "holder birth date"},
		{"empty holder name", func() error {
			_, _, err := s.StartAccountCheck(nonce, acc(func(r *devprovider.AccountRequest) { r.HolderName = "" }))
			return err
		}, "holder name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.start()
			if !errors.Is(err, devprovider.ErrInvalidRequest) {
				t.Fatalf("err = %v, want ErrInvalidRequest", err)
			}
			if !strings.Contains(err.Error(), tc.mention) {
				t.Errorf("error %q does not mention %q", err, tc.mention)
			}
		})
	}
}

func TestConfirm(t *testing.T) {
	wrong := func(code string) string {
		if code[0] == '9' {
			return "0" + code[1:]
		}
		return "9" + code[1:]
	}
	tests := []struct {
		name string
		run  func(t *testing.T, s *devprovider.Simulator, c *clock) error
		want error // nil: the last confirm must succeed
	}{
		{"wrong code then right code", func(t *testing.T, s *devprovider.Simulator, c *clock) error {
			id, code, _ := s.StartPhoneCheck(nonce, hong)
			_, err := s.ConfirmPhoneCheck(id, wrong(code))
			if !errors.Is(err, devprovider.ErrWrongCode) || !strings.Contains(err.Error(), "4 attempts left") {
				t.Errorf("first wrong code: %v", err)
			}
			_, err = s.ConfirmPhoneCheck(id, code)
			return err
		}, nil},
		{"right code on the 5th attempt", func(t *testing.T, s *devprovider.Simulator, c *clock) error {
			id, code, _ := s.StartAccountCheck(nonce, hongAcc)
			for range devprovider.MaxAttempts - 1 {
				s.ConfirmAccountCheck(id, wrong(code))
			}
			_, err := s.ConfirmAccountCheck(id, code)
			return err
		}, nil},
		{"too many attempts", func(t *testing.T, s *devprovider.Simulator, c *clock) error {
			id, code, _ := s.StartAccountCheck(nonce, hongAcc)
			var err error
			for range devprovider.MaxAttempts {
				_, err = s.ConfirmAccountCheck(id, wrong(code))
			}
			if !errors.Is(err, devprovider.ErrTooManyAttempts) {
				t.Errorf("5th wrong code: %v", err)
			}
			_, err = s.ConfirmAccountCheck(id, code) // the check is gone
			return err
		}, devprovider.ErrUnknownCheck},
		{"replayed confirm", func(t *testing.T, s *devprovider.Simulator, c *clock) error {
			id, code, _ := s.StartPhoneCheck(nonce, hong)
			if _, err := s.ConfirmPhoneCheck(id, code); err != nil {
				t.Fatal(err)
			}
			_, err := s.ConfirmPhoneCheck(id, code)
			return err
		}, devprovider.ErrUnknownCheck},
		{"expired after 5 minutes", func(t *testing.T, s *devprovider.Simulator, c *clock) error {
			id, code, _ := s.StartPhoneCheck(nonce, hong)
			c.Add(devprovider.CheckTTL + time.Second)
			_, err := s.ConfirmPhoneCheck(id, code)
			return err
		}, devprovider.ErrCheckExpired},
		{"unknown check id", func(t *testing.T, s *devprovider.Simulator, c *clock) error {
			_, err := s.ConfirmPhoneCheck("nope", "123456")
			return err
		}, devprovider.ErrUnknownCheck},
		{"phone check confirmed as account check", func(t *testing.T, s *devprovider.Simulator, c *clock) error {
			id, code, _ := s.StartPhoneCheck(nonce, hong)
			_, err := s.ConfirmAccountCheck(id, code)
			if !errors.Is(err, devprovider.ErrUnknownCheck) {
				t.Errorf("cross-kind confirm: %v", err)
			}
			_, err = s.ConfirmPhoneCheck(id, code) // not consumed by the mistake
			return err
		}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, c := setup(t)
			err := tc.run(t, s, c)
			if tc.want == nil && err != nil {
				t.Fatalf("err = %v, want success", err)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

// TestConfirmConcurrent: single use holds under concurrent confirms.
func TestConfirmConcurrent(t *testing.T) {
	s, _ := setup(t)
	id, code, err := s.StartPhoneCheck(nonce, hong)
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg sync.WaitGroup
		mu sync.Mutex
		ok int
	)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.ConfirmPhoneCheck(id, code); err == nil {
				mu.Lock()
				ok++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if ok != 1 {
		t.Fatalf("%d confirms succeeded, want exactly 1", ok)
	}
}

func TestNew(t *testing.T) {
	if _, err := devprovider.New("", nil); err == nil {
		t.Error("empty audience accepted")
	}
	s, err := devprovider.New(aud, nil)
	if err != nil {
		t.Fatal(err)
	}
	ps := s.Providers()
	if len(ps) != 2 || ps[0].ID != "dev-phone" || ps[0].Kind != evidence.KindPhone || ps[1].ID != "dev-account" || ps[1].Kind != evidence.KindAccount {
		t.Errorf("providers = %+v", ps)
	}
}
