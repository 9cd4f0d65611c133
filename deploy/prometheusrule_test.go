package deploy

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite generated files (the PrometheusRule) instead of comparing")

const (
	alertsFile = "prometheus/alerts.yaml"
	ruleFile   = "k8s/components/prometheus-rule/prometheusrule.yaml"
)

// prometheusRule renders alerts.yaml as a PrometheusRule: its groups
// become spec.groups verbatim, comments included, so the two cannot say
// different things.
func prometheusRule(alerts []byte) []byte {
	var b bytes.Buffer
	b.WriteString("# Generated from deploy/prometheus/alerts.yaml by\n#   go test ./deploy -run TestPrometheusRule -update\n# Do not edit: edit alerts.yaml.\n")
	b.WriteString("apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata:\n  name: signet\n  labels:\n    app.kubernetes.io/name: signet\nspec:\n")
	body := string(alerts)
	if i := strings.Index(body, "\ngroups:"); i >= 0 {
		body = body[i+1:]
	}
	for _, line := range strings.SplitAfter(body, "\n") {
		if strings.TrimSpace(line) == "" {
			b.WriteString(strings.TrimLeft(line, " "))
			continue
		}
		b.WriteString("  " + line)
	}
	return b.Bytes()
}

func TestPrometheusRule_IsAlertsYAML(t *testing.T) {
	alerts, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	want := prometheusRule(alerts)
	if *update {
		if err := os.WriteFile(ruleFile, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(ruleFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is stale: run go test ./deploy -run TestPrometheusRule -update", ruleFile)
	}
}

// The component, rendered into the prod overlay, yields one PrometheusRule
// whose spec.groups Prometheus's own parser accepts strictly and equal
// alerts.yaml's groups.
func TestPrometheusRule_RendersIntoAnOverlay(t *testing.T) {
	mem := memCopy(t)
	if err := mem.WriteFile("/k8s/overlays/operator/kustomization.yaml", []byte(
		"apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: signet\nresources: [../prod]\ncomponents: [../../components/prometheus-rule]\n")); err != nil {
		t.Fatal(err)
	}
	objs, err := render(mem, "/k8s/overlays/operator")
	if err != nil {
		t.Fatal(err)
	}
	var rules []object
	var rest []object
	for _, o := range objs {
		if o.APIVersion == "monitoring.coreos.com/v1" && o.Kind == "PrometheusRule" {
			rules = append(rules, o)
		} else {
			rest = append(rest, o)
		}
	}
	if len(rules) != 1 {
		t.Fatalf("%d PrometheusRules rendered, want 1", len(rules))
	}
	if _, err := decode(rest, schemas(t)); err != nil {
		t.Fatalf("the rest of the overlay: %v", err)
	}
	var pr struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name      string            `json:"name"`
			Namespace string            `json:"namespace"`
			Labels    map[string]string `json:"labels"`
		} `json:"metadata"`
		Spec struct {
			Groups json.RawMessage `json:"groups"`
		} `json:"spec"`
	}
	if err := strictJSON(rules[0].JSON, &pr); err != nil {
		t.Fatalf("PrometheusRule: %v", err)
	}
	if pr.Metadata.Namespace != "signet" {
		t.Errorf("PrometheusRule namespace %q, want the overlay's signet", pr.Metadata.Namespace)
	}
	spec, err := yaml.JSONToYAML([]byte(`{"groups":` + string(pr.Spec.Groups) + `}`))
	if err != nil {
		t.Fatal(err)
	}
	groups, errs := rulefmt.Parse(spec, false, model.UTF8Validation, parser.NewParser(parser.Options{}), slog.New(slog.NewTextHandler(io.Discard, nil)))
	for _, err := range errs {
		t.Errorf("spec.groups: %v", err)
	}
	alerts, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	var fromFile, fromRule any
	if err := yaml.Unmarshal(alerts, &fromFile); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(spec, &fromRule); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fromFile, fromRule) {
		t.Error("the rendered PrometheusRule's spec.groups differ from alerts.yaml")
	}
	if groups == nil || len(groups.Groups) == 0 || len(groups.Groups[0].Rules) == 0 {
		t.Error("the PrometheusRule has no rules")
	}
}
