package seed

import (
	"cmp"
	"encoding/json"
	"math/rand/v2"
	"slices"
	"time"
)

var certColumns = []string{"serial", "subject_ref", "profile", "status", "subject_dn", "not_before", "not_after",
	"spki_sha256", "key_type", "der", "issuer_id", "operation", "replaces", "replaced_by", "revoked_at",
	"revocation_reason", "request_id", "phone_masked", "account_masked", "bank", "created_at", "updated_at"}

// derSize is the placeholder DER length by key type, in the range of real
// NPKI certificates with these keys (policies, CRL DP, AIA, KISA identity
// extension). Rows stay below PostgreSQL's 2 kB TOAST threshold except for
// RSA-4096, as real ones would.
var derSize = map[string][2]int{
	"rsa2048": {1180, 1320}, "rsa3072": {1560, 1660}, "rsa4096": {1900, 2000},
	"ecdsa-p256": {820, 900}, "ecdsa-p384": {880, 960},
}

// certSource streams the planned certificates, oldest first, to COPY.
type certSource struct {
	p      *plan
	issuer string
	order  []int32
	i      int
	r      *rand.Rand
	bytes  *rand.ChaCha8
	der    []byte
	spki   []byte
	bar    *bar
	row    []any
}

func newCertSource(p *plan, issuer string, now time.Time, b *bar) *certSource {
	order := make([]int32, len(p.certs))
	for i := range order {
		order[i] = int32(i)
	}
	// Oldest first: a predecessor is always written before the
	// certificate that replaces it, and the heap is in creation order as it
	// would be in production.
	slices.SortFunc(order, func(a, b int32) int { return cmp.Compare(p.certs[a].created, p.certs[b].created) })
	var s [32]byte
	fill(s[:])
	src := rand.NewChaCha8(s)
	return &certSource{p: p, issuer: issuer, order: order, i: -1, r: rand.New(src), bytes: src,
		der: make([]byte, 2048), bar: b, row: make([]any, len(certColumns))}
}

func (s *certSource) Next() bool {
	s.i++
	if s.i%4096 == 0 {
		s.bar.set(s.i)
	}
	return s.i < len(s.order)
}

func (s *certSource) Err() error { return nil }

func (s *certSource) Values() ([]any, error) {
	c := &s.p.certs[s.order[s.i]]
	who := &s.p.people[c.person]
	bk := &banks[who.bank]
	prof := &profiles[c.profile]
	keyType := keyTypes[c.keyType].v
	size := derSize[keyType]
	n := size[0] + s.r.IntN(size[1]-size[0])
	der := s.der[:n]
	_, _ = s.bytes.Read(der)
	der[0], der[1], der[2], der[3] = 0x30, 0x82, byte((n-4)>>8), byte(n-4)
	spki := make([]byte, 32)
	_, _ = s.bytes.Read(spki)
	created := time.UnixMicro(c.created).UTC()

	r := s.row
	r[0] = c.serial
	r[1] = who.ref
	r[2] = prof.name
	r[3] = statusNames[c.status]
	r[4] = "CN=" + who.name + "()" + raNumber(s.r, bk.code) + ",OU=" + bk.ou + ",OU=" + prof.ou + ",O=Signet,C=KR"
	r[5] = created.Truncate(time.Second)
	r[6] = time.UnixMicro(c.notAfter).UTC()
	r[7] = spki
	r[8] = keyType
	r[9] = der
	r[10] = s.issuer
	r[11] = opNames[c.op]
	r[12] = s.serialOrNil(c.replaces)
	r[13] = s.serialOrNil(c.replacedBy)
	r[14] = nil
	r[15] = nil
	if c.revokedAt != 0 {
		r[14] = time.UnixMicro(c.revokedAt).UTC()
		r[15] = c.reason
	}
	r[16] = c.requestID
	r[17] = who.phone
	r[18] = who.account
	r[19] = bk.code
	r[20] = created
	r[21] = time.UnixMicro(c.updated).UTC()
	return r, nil
}

func (s *certSource) serialOrNil(i int32) any {
	if i < 0 {
		return nil
	}
	return s.p.certs[i].serial
}

var eventColumns = []string{"at", "actor", "action", "outcome", "code", "reason", "serial", "subject_ref",
	"profile", "request_id", "details"}

var operatorComments = []string{
	"holder called the contact center: phone lost", "bank request: account closed",
	"fraud team ticket", "holder deceased, family request", "court order",
}

// eventSource streams the planned events, in time order, to COPY.
type eventSource struct {
	p   *plan
	i   int
	r   *rand.Rand
	bar *bar
	row []any
}

func newEventSource(p *plan, b *bar) *eventSource {
	var s [32]byte
	fill(s[:])
	return &eventSource{p: p, i: -1, r: rand.New(rand.NewChaCha8(s)), bar: b, row: make([]any, len(eventColumns))}
}

func (s *eventSource) Next() bool {
	s.i++
	if s.i%8192 == 0 {
		s.bar.set(s.i)
	}
	return s.i < len(s.p.events)
}

func (s *eventSource) Err() error { return nil }

func jsonObject(kv ...any) string {
	m := make(map[string]any, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// Values writes one event as package ca would have written it.
func (s *eventSource) Values() ([]any, error) {
	e := &s.p.events[s.i]
	c := &s.p.certs[e.cert]
	who := &s.p.people[c.person]
	prof := profiles[c.profile].name
	subscriber := "subscriber@" + banks[who.bank].hosts[s.r.IntN(2)]
	actor := subscriber
	if e.actor == byOperator {
		actor = operators[s.r.IntN(len(operators))]
	}

	r := s.row
	r[0] = time.UnixMicro(e.at).UTC()
	r[1] = actor
	r[3], r[4], r[5] = "ok", "", ""
	r[6], r[7], r[8] = any(c.serial), any(who.ref), any(prof)
	r[9] = any(newUUID())
	r[10] = "{}"
	switch e.kind {
	case evIssue:
		r[2] = opNames[c.op]
		r[9] = c.requestID
		if c.replaces >= 0 {
			r[10] = jsonObject("not_after", time.UnixMicro(c.notAfter).UTC(), "replaces", s.p.certs[c.replaces].serial)
		} else {
			r[10] = jsonObject("not_after", time.UnixMicro(c.notAfter).UTC())
		}
	case evRevoke:
		r[2] = "revoke"
		if e.actor == byOperator {
			r[10] = jsonObject("reason", revReasons[e.arg].name, "comment", operatorComments[s.r.IntN(len(operatorComments))])
		} else {
			r[10] = jsonObject("reason", revReasons[e.arg].name)
		}
	case evRevokeLapsed:
		r[1], r[2], r[9] = "signet", "revoke", nil
		r[10] = jsonObject("reason", "unspecified", "why", "suspended for more than 6 months",
			"suspended_at", time.UnixMicro(c.revokedAt).UTC())
	case evSuspend:
		r[2] = "suspend"
	case evResume:
		r[2] = "resume"
	case evExpire:
		r[1], r[2], r[9] = "signet", "expire", nil
	case evRefused:
		f := &refusals[e.arg]
		r[2], r[3], r[4], r[5] = f.action, "refused", f.code, f.reason
		if !f.serial {
			r[6] = nil
		}
		if !f.subject {
			r[7], r[8] = nil, nil
		}
		r[10] = jsonObject("message", f.msg)
	case evAdminRead:
		r[1] = auditors[e.actor]
		r[2] = "admin:" + adminReads[e.arg].v
		r[7], r[8], r[9] = nil, nil, nil
		r[10] = jsonObject("serial", c.serial)
	case evAdminRefused:
		r[1] = auditors[e.actor]
		r[2], r[3], r[5] = "admin:AdminRevokeCertificate", "refused", "role"
		r[6], r[7], r[8], r[9] = nil, nil, nil, nil
		r[10] = jsonObject("role", "auditor")
	}
	return r, nil
}
