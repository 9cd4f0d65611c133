package metrics_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/signet-ca/signet/metrics"
	"github.com/signet-ca/signet/store"
)

const (
	alertsFile    = "../deploy/prometheus/alerts.yaml"
	dashboardFile = "../deploy/grafana/signet.json"
)

// exported returns every series name a Signet replica exports, with a
// histogram's _bucket, _sum and _count, from a registry on which each
// labelled series was touched once.
func exported(t *testing.T) map[string]bool {
	t.Helper()
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	g := grpc.NewServer()
	healthpb.RegisterHealthServer(g, health.NewServer())
	m.GRPC.InitializeMetrics(g)
	m.Outcome("issue", "personal-banking", "ok")
	m.Refused("database_unavailable")
	m.Backlog(0)
	now := time.Now()
	pool, err := pgxpool.New(context.Background(), "postgres://nobody@127.0.0.1:1/none")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	metrics.Watch(reg, metrics.Sources{
		Pool: pool.Stat,
		Backlog: func(context.Context) (*store.Backlog, error) {
			return &store.Backlog{CRLNumber: 1, CRLThisUpdate: now, CRLNextUpdate: now.Add(time.Hour), LastCheckpoint: now}, nil
		},
		Leaders:     map[string]func() bool{"crl": func() bool { return true }},
		CRLInterval: time.Hour,
		Now:         time.Now,
	})
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, f := range fams {
		names[f.GetName()] = true
		if f.GetType() == dto.MetricType_HISTOGRAM {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				names[f.GetName()+s] = true
			}
		}
	}
	return names
}

// metricNames are the metric names an expression selects.
func metricNames(t *testing.T, p parser.Parser, expr string) ([]string, error) {
	t.Helper()
	e, err := p.ParseExpr(expr)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, sel := range parser.ExtractSelectors(e) {
		for _, m := range sel {
			if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
				out = append(out, m.Value)
			}
		}
	}
	if len(out) == 0 {
		return nil, errors.New("selects no metric by name")
	}
	return out, nil
}

func TestAlertRules_ParseAndNameExportedMetrics(t *testing.T) {
	names := exported(t)
	p := parser.NewParser(parser.Options{})
	groups, errs := rulefmt.ParseFile(alertsFile, false, model.UTF8Validation, p, slog.New(slog.NewTextHandler(io.Discard, nil)))
	for _, err := range errs {
		t.Error(err)
	}
	if groups == nil {
		t.FailNow()
	}
	want := map[string]bool{"SignetCRLStale": false, "SignetAuditSealerLag": false, "SignetOCSPPresignBacklog": false,
		"SignetSigningErrors": false, "SignetDatabaseUnavailable": false, "SignetNoLeader": false}
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				t.Errorf("rule %q is not an alert", r.Record)
				continue
			}
			want[r.Alert] = true
			if r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
				t.Errorf("alert %s needs a severity label and a summary", r.Alert)
			}
			used, err := metricNames(t, p, r.Expr)
			if err != nil {
				t.Errorf("alert %s: %v", r.Alert, err)
			}
			for _, n := range used {
				if !names[n] {
					t.Errorf("alert %s uses %s, which Signet does not export", r.Alert, n)
				}
			}
		}
	}
	for a, found := range want {
		if !found {
			t.Errorf("no alert %s", a)
		}
	}
}

type panel struct {
	Title   string  `json:"title"`
	Panels  []panel `json:"panels"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
}

// grafanaVars are the dashboard's variables as Grafana substitutes them.
var grafanaVars = strings.NewReplacer("$instance", ".*", "${datasource}", "prometheus", "$__rate_interval", "5m", "$__interval", "1m")

var labelValues = regexp.MustCompile(`label_values\(([a-zA-Z_:][a-zA-Z0-9_:]*)`)

func TestDashboard_QueriesExportedMetricsAndShowsEachSignetSeries(t *testing.T) {
	names := exported(t)
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		UID        string  `json:"uid"`
		Panels     []panel `json:"panels"`
		Templating struct {
			List []struct {
				Query any `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	if d.UID == "" {
		t.Error("the dashboard has no uid: links to it would break on import")
	}
	p := parser.NewParser(parser.Options{})
	shown := map[string]bool{}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, pn := range ps {
			walk(pn.Panels)
			for _, tg := range pn.Targets {
				used, err := metricNames(t, p, grafanaVars.Replace(tg.Expr))
				if err != nil {
					t.Errorf("panel %q: %q: %v", pn.Title, tg.Expr, err)
				}
				for _, n := range used {
					shown[n] = true
					if !names[n] {
						t.Errorf("panel %q uses %s, which Signet does not export", pn.Title, n)
					}
				}
			}
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		if q, ok := v.Query.(string); ok {
			for _, m := range labelValues.FindAllStringSubmatch(q, -1) {
				if !names[m[1]] {
					t.Errorf("variable query %q uses %s, which Signet does not export", q, m[1])
				}
			}
		}
	}
	// Every Signet series is on the dashboard (a histogram through any of
	// its parts).
	var missing []string
	for n := range names {
		if !strings.HasPrefix(n, "signet_") || strings.HasSuffix(n, "_sum") {
			continue
		}
		base := strings.TrimSuffix(strings.TrimSuffix(n, "_bucket"), "_count")
		if !shown[n] && !shown[base+"_bucket"] && !shown[base+"_count"] {
			missing = append(missing, n)
		}
	}
	sort.Strings(missing)
	for _, n := range missing {
		t.Errorf("%s is on no panel", n)
	}
	if !shown["grpc_server_handled_total"] {
		t.Error("the gRPC request rate is on no panel")
	}
}
