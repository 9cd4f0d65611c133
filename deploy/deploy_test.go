package deploy

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/signet-ca/signet/reminder"
	"github.com/signet-ca/signet/server"
)

const crdFile = "testdata/postgresql.cnpg.io_clusters.yaml"

func schemas(t *testing.T) crdSchemas {
	t.Helper()
	s := crdSchemas{}
	if err := loadCRD(crdFile, s); err != nil {
		t.Fatal(err)
	}
	return s
}

func cli(t *testing.T) *signetdCLI {
	t.Helper()
	c, err := readSignetdCLI("../cmd/signetd/main.go")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// buildOverlay renders, decodes and loads the configuration of one
// overlay; every step must pass.
func buildOverlay(t *testing.T, fsys filesys.FileSystem, dir string, sch crdSchemas, c *signetdCLI) *overlay {
	t.Helper()
	objs, err := render(fsys, dir)
	if err != nil {
		t.Fatalf("render %s: %v", dir, err)
	}
	m, err := decode(objs, sch)
	if err != nil {
		t.Fatalf("%s: %v", dir, err)
	}
	o := &overlay{manifests: m, CLI: c}
	srv, err := serverContainer(o)
	if err != nil {
		t.Fatal(err)
	}
	cm, _, err := configMapOf(o, &m.Deployment.Spec.Template.Spec, srv)
	if err != nil {
		t.Fatalf("%s: %v", dir, err)
	}
	if o.Config, err = loadSignetConfig(t.TempDir(), configKey, []byte(m.ConfigMaps[cm].Data[configKey])); err != nil {
		t.Fatalf("%s: signetd refuses the ConfigMap's configuration: %v", dir, err)
	}
	if o.Ports, err = listenerPorts(o.Config); err != nil {
		t.Fatal(err)
	}
	return o
}

// memCopy copies deploy/k8s into an in-memory file system under /k8s, so a
// test can add or break files without touching the tree.
func memCopy(t *testing.T) filesys.FileSystem {
	t.Helper()
	mem := filesys.MakeFsInMemory()
	err := filepath.WalkDir("k8s", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return mem.WriteFile("/"+filepath.ToSlash(p), b)
	})
	if err != nil {
		t.Fatal(err)
	}
	return mem
}

func TestOverlays_RenderDecodeAndAgreeWithSignetd(t *testing.T) {
	sch, c := schemas(t), cli(t)
	mem := memCopy(t)
	// An overlay that turns the component on, as a cluster with the
	// GRPCContainerProbeTLS gate would.
	if err := mem.WriteFile("/k8s/overlays/native/kustomization.yaml", []byte(
		"apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [../dev]\ncomponents: [../../components/native-grpc-probes]\n")); err != nil {
		t.Fatal(err)
	}
	for name, dir := range map[string]string{"dev": "/k8s/overlays/dev", "prod": "/k8s/overlays/prod", "dev+native-grpc-probes": "/k8s/overlays/native"} {
		t.Run(name, func(t *testing.T) {
			o := buildOverlay(t, mem, dir, sch, c)
			for _, ch := range checks {
				if err := ch.fn(o); err != nil {
					t.Errorf("%s: %v", ch.name, err)
				}
			}
			if name == "dev+native-grpc-probes" {
				srv, _ := serverContainer(o)
				if srv.ReadinessProbe.GRPC == nil {
					t.Error("the component did not switch the readiness probe to the kubelet's gRPC probe")
				}
			}
		})
	}
}

func TestBase_RendersAndDecodesAlone(t *testing.T) {
	objs, err := render(filesys.MakeFsOnDisk(), "k8s/base")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decode(objs, schemas(t)); err != nil {
		t.Fatal(err)
	}
}

func TestRender_RefusesABrokenKustomization(t *testing.T) {
	mem := memCopy(t)
	b, _ := mem.ReadFile("/k8s/overlays/dev/kustomization.yaml")
	broken := strings.Replace(string(b), "path: /spec/maxReplicas", "path: /spec/noSuchField/maxReplicas", 1)
	if broken == string(b) {
		t.Fatal("the dev overlay no longer patches /spec/maxReplicas: update this test")
	}
	if err := mem.WriteFile("/k8s/overlays/dev/kustomization.yaml", []byte(broken)); err != nil {
		t.Fatal(err)
	}
	if _, err := render(mem, "/k8s/overlays/dev"); err == nil {
		t.Fatal("a patch to a missing path rendered")
	}
}

// renderedJSON returns the dev overlay's object of a kind, as JSON.
func renderedJSON(t *testing.T, kind string) object {
	t.Helper()
	objs, err := render(filesys.MakeFsOnDisk(), "k8s/overlays/dev")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if o.Kind == kind {
			return o
		}
	}
	t.Fatalf("no %s rendered", kind)
	return object{}
}

// edit decodes an object's JSON, lets f change it and encodes it again.
func edit(t *testing.T, o object, f func(m map[string]any)) object {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(o.JSON, &m); err != nil {
		t.Fatal(err)
	}
	f(m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	o.JSON = b
	return o
}

func TestStrictDecode_RefusesUnknownFields(t *testing.T) {
	d := renderedJSON(t, "Deployment")
	if _, err := decodeBuiltin(d); err != nil {
		t.Fatalf("the rendered Deployment: %v", err)
	}
	for name, f := range map[string]func(m map[string]any){
		"spec.replicass": func(m map[string]any) { nested(m, "spec").(map[string]any)["replicass"] = 2 },
		"container.readinesProbe": func(m map[string]any) {
			c := nested(m, "spec", "template", "spec", "containers").([]any)[0].(map[string]any)
			c["readinesProbe"] = c["readinessProbe"]
			delete(c, "readinessProbe")
		},
		"replicas as a string": func(m map[string]any) { nested(m, "spec").(map[string]any)["replicas"] = "two" },
	} {
		if _, err := decodeBuiltin(edit(t, d, f)); err == nil {
			t.Errorf("%s: decoded without error", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}

func TestClusterSchema_RefusesWhatTheOperatorWould(t *testing.T) {
	sch := schemas(t)
	cl := renderedJSON(t, "Cluster")
	if err := validateCustom(cl, sch); err != nil {
		t.Fatalf("the rendered Cluster: %v", err)
	}
	for name, f := range map[string]func(m map[string]any){
		"postgresql.synchronus": func(m map[string]any) {
			pg := nested(m, "spec", "postgresql").(map[string]any)
			pg["synchronus"] = pg["synchronous"]
			delete(pg, "synchronous")
		},
		"spec.instance": func(m map[string]any) { nested(m, "spec").(map[string]any)["instance"] = 3 },
		"synchronous.method first-or-any": func(m map[string]any) {
			nested(m, "spec", "postgresql", "synchronous").(map[string]any)["method"] = "quorum"
		},
		"synchronous without number": func(m map[string]any) {
			delete(nested(m, "spec", "postgresql", "synchronous").(map[string]any), "number")
		},
		"instances as a string": func(m map[string]any) { nested(m, "spec").(map[string]any)["instances"] = "3" },
		"retentionPolicy 30 days": func(m map[string]any) {
			nested(m, "spec", "backup").(map[string]any)["retentionPolicy"] = "30 days"
		},
		"metadata.labelz": func(m map[string]any) { nested(m, "metadata").(map[string]any)["labelz"] = map[string]any{} },
	} {
		if err := validateCustom(edit(t, cl, f), sch); err == nil {
			t.Errorf("%s: validated", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
	unknown := cl
	unknown.Kind = "Pooler"
	if err := validateCustom(unknown, sch); err == nil {
		t.Error("a custom kind without a schema validated")
	}
}

func TestSignetdCLI_IsReadFromTheSource(t *testing.T) {
	c := cli(t)
	for _, ok := range [][]string{{"--config", "/x"}, {"migrate", "up", "--config", "/x"}, {"--config=/x", "--log-level", "warn"}} {
		if err := c.checkArgs(ok); err != nil {
			t.Errorf("%v: %v", ok, err)
		}
	}
	for _, bad := range [][]string{{"--confg", "/x"}, {"migrate", "sideways"}, {"migrate"}, {"serve", "--config", "/x"}} {
		if err := c.checkArgs(bad); err == nil {
			t.Errorf("%v: accepted", bad)
		}
	}
}

// TestChecks_EachCanFail breaks the dev overlay once per check and expects
// exactly that check to notice.
func TestChecks_EachCanFail(t *testing.T) {
	sch, c := schemas(t), cli(t)
	disk := filesys.MakeFsOnDisk()
	cases := []struct {
		check  string
		name   string
		break_ func(o *overlay)
	}{
		{"security", "readOnlyRootFilesystem off", func(o *overlay) {
			f := false
			o.Deployment.Spec.Template.Spec.Containers[0].SecurityContext.ReadOnlyRootFilesystem = &f
		}},
		{"security", "a capability added", func(o *overlay) {
			o.Job.Spec.Template.Spec.Containers[0].SecurityContext.Capabilities.Add = append(o.Job.Spec.Template.Spec.Containers[0].SecurityContext.Capabilities.Add, "NET_ADMIN")
		}},
		{"security", "no seccomp", func(o *overlay) { o.Deployment.Spec.Template.Spec.SecurityContext.SeccompProfile = nil }},
		{"ports", "gRPC port moved in the config only", func(o *overlay) { o.Ports["grpc"] = 8443 }},
		{"probes", "readiness on the HTTP port", func(o *overlay) {
			p := o.Deployment.Spec.Template.Spec.Containers[0].ReadinessProbe
			p.Exec.Command[2] = "127.0.0.1:9080"
		}},
		{"probes", "liveness wants SERVING", func(o *overlay) {
			p := o.Deployment.Spec.Template.Spec.Containers[0].LivenessProbe
			p.Exec.Command = p.Exec.Command[:len(p.Exec.Command)-1]
		}},
		{"probes", "native probe in plaintext", func(o *overlay) {
			o.Deployment.Spec.Template.Spec.Containers[0].ReadinessProbe.Exec = nil
			o.Deployment.Spec.Template.Spec.Containers[0].ReadinessProbe.GRPC = &corev1.GRPCAction{Port: 9443}
		}},
		{"config files mounted", "TLS key outside every volume", func(o *overlay) { o.Config.TLS.Key = "/var/lib/signet/tls.key" }},
		{"config files mounted", "a reminder secret outside every volume", func(o *overlay) {
			o.Config.RAChannels = map[string]reminder.ChannelConfig{"default": {WebhookURL: "https://ra.example/x", SecretFile: "/var/lib/signet/webhook.secret"}}
		}},
		{"config files mounted", "a trust list root outside every volume", func(o *overlay) {
			o.Config.OtherCAs = append(o.Config.OtherCAs, server.OtherCAConfig{Name: "x", Roots: "/opt/trust/x.pem"})
		}},
		{"config files mounted", "--config elsewhere", func(o *overlay) {
			o.Deployment.Spec.Template.Spec.Containers[0].Args = []string{"--config", "/etc/signet/signet.json"}
		}},
		{"config files mounted", "a flag signetd lacks", func(o *overlay) {
			o.Deployment.Spec.Template.Spec.Containers[0].Args = append(o.Deployment.Spec.Template.Spec.Containers[0].Args, "--metrics-addr", ":9090")
		}},
		{"services", "admin behind the public Service", func(o *overlay) {
			s := o.Services["signet"]
			s.Spec.Ports = append(s.Spec.Ports, o.Services["signet-admin"].Spec.Ports...)
			delete(o.Services, "signet-admin")
		}},
		{"services", "target port by a wrong number", func(o *overlay) {
			o.Services["signet"].Spec.Ports[0].TargetPort = intstr.FromInt32(8443)
		}},
		{"services", "selector misses the pods", func(o *overlay) {
			o.Services["signet"].Spec.Selector = map[string]string{"app.kubernetes.io/name": "signett"}
		}},
		{"admin network policy", "admin open to every namespace", func(o *overlay) {
			o.NetworkPolicy.Spec.Ingress[1].From[0].NamespaceSelector.MatchLabels = nil
		}},
		{"admin network policy", "the public rule admits every port", func(o *overlay) { o.NetworkPolicy.Spec.Ingress[0].Ports = nil }},
		{"admin network policy", "pprof admitted from anywhere", func(o *overlay) {
			o.NetworkPolicy.Spec.Ingress[0].Ports = append(o.NetworkPolicy.Spec.Ingress[0].Ports, o.NetworkPolicy.Spec.Ingress[1].Ports[1])
		}},
		{"services", "pprof behind the public Service", func(o *overlay) {
			a := o.Services["signet-admin"]
			o.Services["signet"].Spec.Ports = append(o.Services["signet"].Spec.Ports, a.Spec.Ports[1])
			a.Spec.Ports = a.Spec.Ports[:1]
		}},
		{"admin network policy", "an ipBlock for the admin port", func(o *overlay) {
			r := &o.NetworkPolicy.Spec.Ingress[1]
			r.From = append(r.From, networkingv1.NetworkPolicyPeer{IPBlock: &networkingv1.IPBlock{CIDR: "10.0.0.0/8"}})
		}},
		{"availability", "one replica", func(o *overlay) { one := int32(1); o.Deployment.Spec.Replicas = &one }},
		{"availability", "HPA scales another Deployment", func(o *overlay) { o.HPA.Spec.ScaleTargetRef.Name = "other" }},
		{"availability", "PDB blocks every drain", func(o *overlay) { v := intstr.FromInt32(2); o.PDB.Spec.MinAvailable = &v }},
		{"database", "DATABASE_URL at the read-only Service", func(o *overlay) {
			e := &o.Deployment.Spec.Template.Spec.Containers[0].Env[0]
			e.Value = strings.Replace(e.Value, "signet-db-rw", "signet-db-ro", 1)
		}},
		{"database", "password in the URL", func(o *overlay) {
			e := &o.Job.Spec.Template.Spec.Containers[0].Env[0]
			e.Value = strings.Replace(e.Value, "signet_migrator@", "signet_migrator:hunter2@", 1)
		}},
		{"database", "signetd as the owner", func(o *overlay) {
			e := &o.Deployment.Spec.Template.Spec.Containers[0].Env[0]
			e.Value = strings.Replace(e.Value, "signet@", "signet_migrator@", 1)
		}},
		{"database", "no synchronous replication", func(o *overlay) {
			delete(nested(o.Cluster, "spec", "postgresql").(map[string]any), "synchronous")
		}},
		{"images", "the Job on another tag", func(o *overlay) {
			o.Job.Spec.Template.Spec.Containers[0].Image = imageRepo + ":other"
		}},
		{"migration job", "migrate down", func(o *overlay) { o.Job.Spec.Template.Spec.Containers[0].Args[1] = "down" }},
		{"migration job", "another ConfigMap path", func(o *overlay) {
			o.Job.Spec.Template.Spec.Containers[0].Args[3] = "/etc/signet/signet.json"
		}},
		{"secrets by reference", "a Secret in the manifests", func(o *overlay) {
			o.Secrets = append(o.Secrets, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "signet-ca-key"}})
		}},
	}
	byName := map[string]func(*overlay) error{}
	for _, ch := range checks {
		byName[ch.name] = ch.fn
	}
	covered := map[string]bool{}
	for _, tc := range cases {
		t.Run(tc.check+"/"+tc.name, func(t *testing.T) {
			fn, ok := byName[tc.check]
			if !ok {
				t.Fatalf("no check %q", tc.check)
			}
			o := buildOverlay(t, disk, "k8s/overlays/dev", sch, c)
			if err := fn(o); err != nil {
				t.Fatalf("fails before the break: %v", err)
			}
			tc.break_(o)
			if err := fn(o); err == nil {
				t.Fatal("the break went unnoticed")
			} else {
				t.Log(err)
			}
			covered[tc.check] = true
		})
	}
	for _, ch := range checks {
		if !covered[ch.name] {
			t.Errorf("check %q has no negative case", ch.name)
		}
	}
}

func TestConfig_SignetdRefusesDevProviders(t *testing.T) {
	b, err := os.ReadFile("k8s/overlays/prod/signet.json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	m["devProviders"] = true
	bad, _ := json.Marshal(m)
	if _, err := loadSignetConfig(t.TempDir(), "bad.json", bad); err == nil {
		t.Fatal("signetd's loader took devProviders")
	}
}

func mustYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
