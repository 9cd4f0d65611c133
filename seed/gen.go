package seed

import (
	"cmp"
	"encoding/hex"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/signet-ca/signet/ca/evidence"
	"github.com/signet-ca/signet/ca/evidence/devprovider"
	"github.com/signet-ca/signet/internal/kst"
)

// The plan is built in memory first, compactly (about 150 bytes per
// certificate and 24 per event), then streamed into PostgreSQL. Building it
// first lets the events be sorted by time before COPY, so that audit_events
// ids rise with `at` as they do in production, and lets the certificates be
// written oldest first, as their physical order would be.

const (
	stActive uint8 = iota
	stSuspended
	stRevoked
	stExpired
)

var statusNames = [...]string{"active", "suspended", "revoked", "expired"}

const (
	opIssue uint8 = iota
	opReissue
	opRenew
)

var opNames = [...]string{"issue", "reissue", "renew"}

// Event kinds. Each is written the way package ca writes it.
const (
	evIssue        uint8 = iota // issue, reissue or renew of cert: action = its operation
	evRevoke                    // holder or operator revocation; arg = revReasons index
	evRevokeLapsed              // the hourly job revoking a hold older than 6 months
	evSuspend
	evResume
	evExpire       // ExpireLive when the subject issues again after notAfter
	evRefused      // arg = refusals index
	evAdminRead    // arg = adminReads index
	evAdminRefused // an auditor calling an operator method
)

// Who acted, for events that a holder or an operator may cause.
const (
	bySubscriber uint8 = iota
	byOperator
)

type person struct {
	name, birth, ref string
	bank             uint8
	phone, account   string // masked
}

type cert struct {
	serial, requestID    string
	created, notAfter    int64 // unix microseconds
	revokedAt, updated   int64 // revokedAt 0 = NULL
	person               int32
	replaces, replacedBy int32 // -1 = none
	reason               int16 // -1 = NULL
	profile, status, op  uint8
	keyType              uint8
}

type event struct {
	at    int64 // unix microseconds
	cert  int32
	kind  uint8
	arg   uint8
	actor uint8
}

type plan struct {
	people []person
	certs  []cert
	events []event
}

type generator struct {
	r          *rand.Rand // life cycles, reproducible from Options.Seed
	pr         *rand.Rand // people, a stream of its own so that People can replay it
	key        []byte
	now, start time.Time
	want       int
	perCert    float64
	carry      float64
	taken      map[string]bool // subject_refs already in the database
	seen       map[string]bool // name|birth drawn so far
	p          plan

	surnameCum, bankCum, profileCum, keyCum, reasonCum, refusalCum, readCum []float64
}

func newGenerator(opts Options, now time.Time, taken map[string]bool) *generator {
	s := opts.Seed
	g := &generator{
		r: rand.New(rand.NewPCG(s, 2)), pr: rand.New(rand.NewPCG(s, 1)), key: opts.SubjectKey,
		now: now, start: now.AddDate(-2, 0, 0), want: opts.Certs, perCert: opts.EventsPerCert,
		taken: taken, seen: map[string]bool{},
	}
	g.p.certs = make([]cert, 0, opts.Certs)
	g.p.events = make([]event, 0, int(float64(opts.Certs)*max(opts.EventsPerCert, 1.3)*1.02)+16)
	g.p.people = make([]person, 0, opts.Certs*3/4+1)
	g.surnameCum = cumulative(len(surnames), func(i int) float64 { return surnames[i].w })
	g.bankCum = cumulative(len(banks), func(i int) float64 { return banks[i].w })
	g.profileCum = cumulative(len(profiles), func(i int) float64 { return profiles[i].w })
	g.keyCum = cumulative(len(keyTypes), func(i int) float64 { return keyTypes[i].w })
	g.reasonCum = cumulative(len(revReasons), func(i int) float64 { return revReasons[i].w })
	g.refusalCum = cumulative(len(refusals), func(i int) float64 { return refusals[i].w })
	g.readCum = cumulative(len(adminReads), func(i int) float64 { return adminReads[i].w })
	return g
}

func cumulative(n int, w func(int) float64) []float64 {
	c := make([]float64, n)
	sum := 0.0
	for i := range n {
		sum += w(i)
		c[i] = sum
	}
	return c
}

func (g *generator) pick(cum []float64) int { return pick(g.r, cum) }

func pick(r *rand.Rand, cum []float64) int {
	x := r.Float64() * cum[len(cum)-1]
	i, _ := slices.BinarySearch(cum, x)
	return min(i, len(cum)-1)
}

func (g *generator) left() int { return g.want - len(g.p.certs) }

// run builds the whole plan: people, each with one or two (subject,
// profile) life cycles, until the certificate count is reached.
func (g *generator) run(progress func(done int)) (*plan, error) {
	for g.left() > 0 {
		p, err := g.newPerson()
		if err != nil {
			return nil, err
		}
		first := uint8(g.pick(g.profileCum))
		g.lifecycle(p, first)
		// Some people hold a second kind (DESIGN.md profiles), e.g. a
		// 범용 certificate next to the free banking one.
		if g.left() > 0 && g.r.Float64() < 0.15 {
			second := uint8(g.pick(g.profileCum))
			for second == first {
				second = uint8(g.r.IntN(len(profiles)))
			}
			g.lifecycle(p, second)
		}
		if progress != nil {
			progress(len(g.p.certs))
		}
	}
	// Events in time order; within one instant, in the order ca writes them
	// (an expire before the issue that caused it).
	slices.SortStableFunc(g.p.events, func(a, b event) int { return cmp.Compare(a.at, b.at) })
	return &g.p, nil
}

// newPerson draws a name and birth date never drawn before, whose
// subject_ref is not already in the database: two people with the same CI
// would be one subject, and the one-live index would refuse their certificates.
func (g *generator) newPerson() (int32, error) {
	for range 1000 {
		name := surnames[pick(g.pr, g.surnameCum)].v
		if g.pr.IntN(3) == 0 {
			name += popularGiven[g.pr.IntN(len(popularGiven))]
		} else {
			name += givenFirst[g.pr.IntN(len(givenFirst))] + givenSecond[g.pr.IntN(len(givenSecond))]
		}
		// Subscribers are adults of any age: born 1945 to 2006.
		born := time.Date(1945, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, g.pr.IntN(62*365))
		birth := born.Format("20060102")
		if g.seen[name+"|"+birth] {
			continue
		}
		g.seen[name+"|"+birth] = true
		ref, err := evidence.SubjectRef(g.key, devprovider.SimulatedCI(name, birth))
		if err != nil {
			return 0, err
		}
		if g.taken[ref] {
			continue
		}
		b := pick(g.pr, g.bankCum)
		acct := 11 + g.pr.IntN(4)
		g.p.people = append(g.p.people, person{
			name: name, birth: birth, ref: ref, bank: uint8(b),
			phone:   evidence.MaskPhone(phonePrefix + fmt.Sprintf("%08d", g.pr.IntN(100000000))),
			account: evidence.MaskAccount(fmt.Sprintf("%0*d", acct, g.pr.Int64N(int64(math.Pow10(acct))))),
		})
		return int32(len(g.p.people) - 1), nil
	}
	return 0, fmt.Errorf("seed: could not draw a new subject in 1000 tries (is the database already full of seeded subjects?)")
}

func (g *generator) micros(t time.Time) int64 { return t.UnixMicro() }

// between returns a uniform instant in [a, b), or a when b <= a.
func (g *generator) between(a, b time.Time) time.Time {
	if !b.After(a) {
		return a
	}
	return a.Add(time.Duration(g.r.Int64N(int64(b.Sub(a)))))
}

// later returns, with probability p, an instant after t at which the
// subject comes back for a new certificate, if that is before now.
func (g *generator) later(t time.Time, p float64, mean time.Duration) (time.Time, bool) {
	if g.r.Float64() >= p || g.left() <= 0 {
		return time.Time{}, false
	}
	next := t.Add(time.Hour + time.Duration(g.r.ExpFloat64()*float64(mean)))
	return next, next.Before(g.now)
}

// lifecycle simulates one subject and profile from a first issue at a
// uniform time in the last two years to now: reissue, revocation,
// suspension (resumed, lapsed or pending), renewal in the 30-day window,
// expiry, and a new issue after an end. It follows the rules of ca
// (README "Life cycle rules as built").
func (g *generator) lifecycle(p int32, prof uint8) {
	firstCert := len(g.p.certs)
	firstEvent := len(g.p.events)
	t := g.between(g.start, g.now.Add(-time.Hour))
	op, prev := opIssue, int32(-1)
	notAfter := validityEnd(t)
	for g.left() > 0 {
		c := g.addCert(p, prof, op, t, notAfter, prev)
		prev = -1
		end := minTime(notAfter, g.now)
		r := g.r.Float64()
		switch {
		case r < 0.04: // 재발급 after a lost key: same notAfter, old one superseded
			at := g.between(t.Add(time.Hour), end)
			if at.Before(end) && g.left() > 0 {
				op, prev, t = opReissue, c, at
				continue
			}
		case r < 0.07: // 폐지 by the holder or an operator
			at := g.between(t.Add(time.Hour), end)
			if at.Before(end) {
				reason := uint8(g.pick(g.reasonCum))
				actor := bySubscriber
				if g.r.Float64() < 0.1 {
					actor = byOperator
				}
				g.revoke(c, at, revReasons[reason].code)
				g.addEvent(evRevoke, c, at, reason, actor)
				if next, ok := g.later(at, 0.5, 45*24*time.Hour); ok {
					op, t, notAfter = opIssue, next, validityEnd(next)
					continue
				}
				g.finish(firstCert, firstEvent)
				return
			}
		case r < 0.095: // 효력정지
			s := g.between(t.Add(time.Hour), end)
			if !s.Before(end) {
				break
			}
			actor := bySubscriber
			if g.r.Float64() < 0.05 {
				actor = byOperator
			}
			g.addEvent(evSuspend, c, s, 0, actor)
			resume := s.Add(24*time.Hour + time.Duration(g.r.Int64N(int64(150*24*time.Hour))))
			if g.r.Float64() < 0.55 && resume.Before(end) {
				g.addEvent(evResume, c, resume, 0, actor)
				break // active again: renewal or expiry below
			}
			job := s.AddDate(0, 6, 0).Add(time.Duration(g.r.Int64N(int64(time.Hour))))
			if job.Before(g.now) {
				// RevokeLapsedSuspensions keeps the hold time as revocation time.
				g.revoke(c, s, 0)
				g.p.certs[c].updated = g.micros(job)
				g.addEvent(evRevokeLapsed, c, job, 0, 0)
				if next, ok := g.later(job, 0.4, 30*24*time.Hour); ok {
					op, t, notAfter = opIssue, next, validityEnd(next)
					continue
				}
			} else {
				cc := &g.p.certs[c]
				cc.status, cc.revokedAt, cc.reason, cc.updated = stSuspended, g.micros(s), 6, g.micros(s)
			}
			g.finish(firstCert, firstEvent)
			return
		}
		// 갱신 from 30 days before notAfter, or expiry.
		window := notAfter.AddDate(0, 0, -30)
		if !window.Before(g.now) {
			break // valid and not yet renewable
		}
		if g.r.Float64() < 0.7 && g.left() > 0 {
			at := g.between(window, notAfter)
			if !at.Before(g.now) {
				break // will renew, later than now
			}
			op, prev, t = opRenew, c, at
			notAfter = renewedEnd(notAfter)
			continue
		}
		if !notAfter.Before(g.now) {
			break
		}
		// Lapsed. The row stays 'active' until the subject issues again,
		// when ca's expireLive marks it expired in the same transaction.
		if next, ok := g.later(notAfter, 0.35, 60*24*time.Hour); ok {
			cc := &g.p.certs[c]
			cc.status, cc.updated = stExpired, g.micros(next)
			g.addEvent(evExpire, c, next, 0, 0)
			op, t, notAfter = opIssue, next, validityEnd(next)
			continue
		}
		break
	}
	g.finish(firstCert, firstEvent)
}

// addCert records a new certificate and its issue/renew/reissue event; a
// predecessor is revoked as superseded in the same instant, as ca.commit does.
func (g *generator) addCert(p int32, prof, op uint8, at, notAfter time.Time, prev int32) int32 {
	c := cert{
		serial: newSerial(), requestID: newUUID(),
		created: g.micros(at), notAfter: g.micros(notAfter), updated: g.micros(at),
		person: p, replaces: prev, replacedBy: -1, reason: -1,
		profile: prof, status: stActive, op: op, keyType: uint8(g.pick(g.keyCum)),
	}
	g.p.certs = append(g.p.certs, c)
	i := int32(len(g.p.certs) - 1)
	if prev >= 0 {
		g.revoke(prev, at, 4) // superseded
		g.p.certs[prev].replacedBy = i
	}
	g.addEvent(evIssue, i, at, 0, bySubscriber)
	return i
}

func (g *generator) revoke(c int32, at time.Time, reason int16) {
	cc := &g.p.certs[c]
	cc.status, cc.revokedAt, cc.reason, cc.updated = stRevoked, g.micros(at), reason, g.micros(at)
}

func (g *generator) addEvent(kind uint8, c int32, at time.Time, arg, actor uint8) {
	g.p.events = append(g.p.events, event{at: g.micros(at), cert: c, kind: kind, arg: arg, actor: actor})
}

// finish adds the background traffic of one life cycle so that the log
// holds EventsPerCert events per certificate on average: refused attempts
// (about 45 %) and auditor reads naming its certificates.
func (g *generator) finish(firstCert, firstEvent int) {
	n := len(g.p.certs) - firstCert
	if n == 0 {
		return
	}
	g.carry += g.perCert*float64(n) - float64(len(g.p.events)-firstEvent)
	extra := int(g.carry)
	if extra <= 0 {
		return
	}
	g.carry -= float64(extra)
	for range extra {
		c := int32(firstCert + g.r.IntN(n))
		cc := &g.p.certs[c]
		created := time.UnixMicro(cc.created)
		if g.r.Float64() < 0.45 {
			// Attempts cluster around the certificate's life.
			until := minTime(time.UnixMicro(cc.notAfter).AddDate(0, 0, 30), g.now)
			g.addEvent(evRefused, c, g.between(created, until), uint8(g.pick(g.refusalCum)), 0)
			continue
		}
		at := g.between(created, g.now)
		if g.r.Float64() < 0.02 {
			g.addEvent(evAdminRefused, c, at, 0, uint8(g.r.IntN(len(auditors))))
			continue
		}
		g.addEvent(evAdminRead, c, at, uint8(g.pick(g.readCum)), uint8(g.r.IntN(len(auditors))))
	}
}

// validityEnd is one year after t, at 23:59:59 KST of that day (ca.Validity.NotAfter).
func validityEnd(t time.Time) time.Time { return endOfDay(addYears(t.In(kst.Zone), 1)) }

// renewedEnd is the old notAfter plus one year: the remaining days carry over.
func renewedEnd(notAfter time.Time) time.Time { return endOfDay(addYears(notAfter.In(kst.Zone), 1)) }

func endOfDay(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), 23, 59, 59, 0, kst.Zone).UTC()
}

// addYears as ca does it: Feb 29 ends on Feb 28 (Korean Civil Act art. 160(3)).
func addYears(t time.Time, years int) time.Time {
	y, m, d := t.Date()
	last := time.Date(y+years, m+1, 0, 0, 0, 0, 0, t.Location()).Day()
	return time.Date(y+years, m, min(d, last), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), t.Location())
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// newSerial is 20 random bytes as ca makes them (positive, first byte
// non-zero), written as lower-case hex without leading zeros like
// big.Int.Text(16).
func newSerial() string {
	var b [20]byte
	fill(b[:])
	b[0] &= 0x7f
	if b[0] == 0 {
		b[0] = 1
	}
	return strings.TrimLeft(hex.EncodeToString(b[:]), "0")
}

func newUUID() string {
	var b [16]byte
	fill(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// raNumber is the number after "()" in an NPKI common name: "00", the bank
// code, then 15 digits (ca.raNumber).
func raNumber(r *rand.Rand, bankCode string) string {
	return "00" + bankCode + strconv.FormatInt(1e14+r.Int64N(9e14), 10)
}
