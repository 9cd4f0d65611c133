package ca

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestValidity_ParseAcceptsYearsAndPositiveDurations(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Validity
	}{
		{"1y", Validity{Years: 1}},
		{"2y", Validity{Years: 2}},
		{"240h", Validity{Duration: 240 * time.Hour}},
		{"90m", Validity{Duration: 90 * time.Minute}},
		{"1h30m", Validity{Duration: 90 * time.Minute}},
		{"1500ms", Validity{Duration: 1500 * time.Millisecond}},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseValidity(tc.in)
			if err != nil {
				t.Fatalf("ParseValidity(%q): %v", tc.in, err)
			}
			if got != tc.want {
				t.Errorf("ParseValidity(%q) = %+v, want %+v", tc.in, got, tc.want)
			}
			if got.IsZero() {
				t.Errorf("ParseValidity(%q) is zero", tc.in)
			}
		})
	}
}

func TestValidity_ParseRefusesZeroNegativeFractionalAndGarbage(t *testing.T) {
	for _, in := range []string{"0y", "-1y", "1.5y", "y", "1 y", "1Y", "-1h", "0s", "0", "abc", ""} {
		t.Run(in, func(t *testing.T) {
			got, err := ParseValidity(in)
			if err == nil {
				t.Fatalf("ParseValidity(%q) = %+v, want an error", in, got)
			}
			if !got.IsZero() {
				t.Errorf("ParseValidity(%q) returned %+v with its error, want the zero Validity", in, got)
			}
			if !strings.Contains(err.Error(), `"`+in+`"`) {
				t.Errorf("error %q does not quote the input %q", err, in)
			}
		})
	}
}

func TestValidity_JSONRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		v    Validity
		json string
	}{
		{Validity{Years: 1}, `"1y"`},
		{Validity{Years: 2}, `"2y"`},
		{Validity{Duration: 240 * time.Hour}, `"240h0m0s"`},
		{Validity{Duration: 90 * time.Minute}, `"1h30m0s"`},
	} {
		t.Run(tc.json, func(t *testing.T) {
			b, err := json.Marshal(tc.v)
			if err != nil {
				t.Fatalf("marshal: %v", err)
			}
			if string(b) != tc.json {
				t.Errorf("marshal %+v = %s, want %s", tc.v, b, tc.json)
			}
			var back Validity
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatalf("unmarshal %s: %v", b, err)
			}
			if back != tc.v {
				t.Errorf("round trip %+v -> %s -> %+v", tc.v, b, back)
			}
		})
	}
}

func TestValidity_JSONInProfileConfig(t *testing.T) {
	var p Profile
	if err := json.Unmarshal([]byte(`{"name":"x","ou":"personal4IB","validity":"1y","policyOID":"1.2.3"}`), &p); err != nil {
		t.Fatalf("unmarshal profile: %v", err)
	}
	if p.Validity != (Validity{Years: 1}) {
		t.Errorf("validity = %+v, want 1y", p.Validity)
	}
	b, err := json.Marshal(&p)
	if err != nil {
		t.Fatalf("marshal profile: %v", err)
	}
	if !strings.Contains(string(b), `"validity":"1y"`) {
		t.Errorf("marshalled profile %s lacks \"validity\":\"1y\"", b)
	}
	for _, bad := range []string{`"abc"`, `"0y"`, `1`, `{"Years":1}`} {
		var q Profile
		if err := json.Unmarshal([]byte(`{"validity":`+bad+`}`), &q); err == nil {
			t.Errorf("unmarshal validity %s: got %+v, want an error", bad, q.Validity)
		}
	}
}

func unitTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestValidity_NotAfterIsEndOfKSTDay(t *testing.T) {
	pst := time.FixedZone("PST", -8*60*60)
	for _, tc := range []struct {
		name string
		v    Validity
		from string // RFC 3339
		in   *time.Location
		want string // RFC 3339, UTC
	}{
		{name: "1y from 23:59:59 KST stays on that KST date", v: Validity{Years: 1},
			from: "2026-03-05T14:59:59Z", want: "2027-03-05T14:59:59Z"},
		{name: "1y from 00:00:00 KST next day is already the 6th", v: Validity{Years: 1},
			from: "2026-03-05T15:00:00Z", want: "2027-03-06T14:59:59Z"},
		{name: "1y from 09:00 KST morning", v: Validity{Years: 1},
			from: "2026-03-05T00:00:00Z", want: "2027-03-05T14:59:59Z"},
		{name: "1y uses the instant, not the location of from", v: Validity{Years: 1},
			from: "2026-03-05T15:00:00Z", in: pst, want: "2027-03-06T14:59:59Z"},
		{name: "1y across the KST new year", v: Validity{Years: 1},
			from: "2026-12-31T15:00:00Z", want: "2028-01-01T14:59:59Z"},
		{name: "1y from a KST Feb 29 that is Feb 28 in UTC", v: Validity{Years: 1},
			from: "2024-02-28T15:00:00Z", want: "2025-02-28T14:59:59Z"},
		{name: "1y from Feb 29 noon KST", v: Validity{Years: 1},
			from: "2024-02-29T03:00:00Z", want: "2025-02-28T14:59:59Z"},
		{name: "1y from a UTC Feb 29 that is Mar 1 in KST", v: Validity{Years: 1},
			from: "2024-02-29T15:00:00Z", want: "2025-03-01T14:59:59Z"},
		{name: "4y from Feb 29 lands on Feb 29", v: Validity{Years: 4},
			from: "2024-02-29T03:00:00Z", want: "2028-02-29T14:59:59Z"},
		{name: "renewal: 1y from an NPKI notAfter keeps 23:59:59 KST", v: Validity{Years: 1},
			from: "2027-03-05T14:59:59Z", want: "2028-03-05T14:59:59Z"},
		{name: "sub-second from is ignored for years", v: Validity{Years: 1},
			from: "2026-03-05T14:59:59.999999999Z", want: "2027-03-05T14:59:59Z"},

		{name: "240h from 23:59:59 KST ends 10 KST days on", v: Validity{Duration: 240 * time.Hour},
			from: "2026-03-05T14:59:59Z", want: "2026-03-15T14:59:59Z"},
		{name: "240h from 00:00 KST ends at the end of the day reached", v: Validity{Duration: 240 * time.Hour},
			from: "2026-03-05T15:00:00Z", want: "2026-03-16T14:59:59Z"},
		{name: "24h exactly rounds up to the end of the next KST day", v: Validity{Duration: 24 * time.Hour},
			from: "2026-03-05T01:00:00Z", want: "2026-03-06T14:59:59Z"},

		{name: "90m ends exactly", v: Validity{Duration: 90 * time.Minute},
			from: "2026-03-05T01:02:03Z", want: "2026-03-05T02:32:03Z"},
		{name: "90m across KST midnight ends exactly", v: Validity{Duration: 90 * time.Minute},
			from: "2026-03-05T14:30:00Z", want: "2026-03-05T16:00:00Z"},
		{name: "short duration is truncated to the second", v: Validity{Duration: time.Hour},
			from: "2026-03-05T01:02:03.999Z", want: "2026-03-05T02:02:03Z"},
		{name: "23h59m59s is still exact", v: Validity{Duration: 24*time.Hour - time.Second},
			from: "2026-03-05T01:00:00Z", want: "2026-03-06T00:59:59Z"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			from := unitTime(t, tc.from)
			if tc.in != nil {
				from = from.In(tc.in)
			}
			got := tc.v.NotAfter(from)
			want := unitTime(t, tc.want)
			if !got.Equal(want) {
				msg := "%v.NotAfter(%s) = %s (%s), want %s (%s)"
				args := []any{tc.v, tc.from, got.UTC().Format(time.RFC3339), got.In(kst).Format(time.DateTime),
					want.Format(time.RFC3339), want.In(kst).Format(time.DateTime)}
				t.Errorf(msg, args...)
			}
			if got.Location() != time.UTC {
				t.Errorf("NotAfter returned location %v, want UTC", got.Location())
			}
			if got.Nanosecond() != 0 {
				t.Errorf("NotAfter = %s has sub-second precision", got.Format(time.RFC3339Nano))
			}
		})
	}
}

// A sweep over every hour of a year: one year always ends at 23:59:59 KST
// on the same KST calendar date one year on.
func TestValidity_OneYearSweepEndsSameKSTDateNextYear(t *testing.T) {
	start := unitTime(t, "2026-01-01T00:00:00Z")
	for from := start; from.Before(start.AddDate(1, 0, 0)); from = from.Add(time.Hour) {
		got := (Validity{Years: 1}).NotAfter(from).In(kst)
		k := from.In(kst)
		if got.Hour() != 23 || got.Minute() != 59 || got.Second() != 59 {
			t.Fatalf("NotAfter(%s) = %s KST, want 23:59:59 KST", from.Format(time.RFC3339), got.Format(time.DateTime))
		}
		if got.Year() != k.Year()+1 || got.Month() != k.Month() || got.Day() != k.Day() {
			t.Fatalf("NotAfter(%s = %s KST) = %s KST, want the same date one year on",
				from.Format(time.RFC3339), k.Format(time.DateTime), got.Format(time.DateTime))
		}
	}
}
