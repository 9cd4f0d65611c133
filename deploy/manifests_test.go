package deploy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	jsonschema "github.com/santhosh-tekuri/jsonschema/v6"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/signet-ca/signet/server"
)

// The manifests are checked in three layers: kustomize must render them,
// every object must decode strictly into the API type the cluster would
// validate it against (k8s.io/api for built-in kinds, the CRD's structural
// schema for CloudNativePG), and the objects must agree with each other and
// with signetd itself (its config loader, its flags, its ports).

// object is one rendered manifest.
type object struct {
	APIVersion, Kind, Name string
	JSON                   []byte
}

// render builds a kustomization directory the way `kubectl apply -k` would.
func render(fs filesys.FileSystem, dir string) ([]object, error) {
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(fs, dir)
	if err != nil {
		return nil, err
	}
	var out []object
	for _, r := range m.Resources() {
		b, err := r.MarshalJSON()
		if err != nil {
			return nil, err
		}
		out = append(out, object{APIVersion: r.GetApiVersion(), Kind: r.GetKind(), Name: r.GetName(), JSON: b})
	}
	return out, nil
}

// builtinCodecs decodes the built-in kinds the manifests use, strictly:
// an unknown or duplicated field is an error, as with `kubectl apply
// --validate=strict`.
var builtinCodecs = func() serializer.CodecFactory {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		appsv1.AddToScheme, corev1.AddToScheme, batchv1.AddToScheme, policyv1.AddToScheme,
		autoscalingv2.AddToScheme, networkingv1.AddToScheme,
	} {
		if err := add(s); err != nil {
			panic(err)
		}
	}
	return serializer.NewCodecFactory(s, serializer.EnableStrict)
}()

func decodeBuiltin(o object) (runtime.Object, error) {
	obj, _, err := builtinCodecs.UniversalDeserializer().Decode(o.JSON, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", o.Kind, o.Name, err)
	}
	return obj, nil
}

// crdSchemas are the structural schemas of the custom kinds, by
// apiVersion/kind. A custom object of a kind not listed here is refused.
type crdSchemas map[string]*jsonschema.Schema

// loadCRD compiles a CRD's openAPIV3Schema for every served version. The
// API server prunes or (with field validation strict, kubectl's default)
// refuses fields a structural schema does not name; JSON Schema allows them
// unless told otherwise, so every object schema that lists properties and
// does not preserve unknown fields gets additionalProperties: false.
func loadCRD(path string, into crdSchemas) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var crd struct {
		Spec struct {
			Group    string                `json:"group"`
			Names    struct{ Kind string } `json:"names"`
			Versions []struct {
				Name   string `json:"name"`
				Schema struct {
					OpenAPIV3Schema map[string]any `json:"openAPIV3Schema"`
				} `json:"schema"`
			} `json:"versions"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(b, &crd); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	for _, v := range crd.Spec.Versions {
		s := v.Schema.OpenAPIV3Schema
		if s == nil {
			return fmt.Errorf("%s: version %s has no openAPIV3Schema", path, v.Name)
		}
		closeObjects(s)
		// Round-trip through JSON so that numbers are what the compiler expects.
		raw, _ := json.Marshal(s)
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err != nil {
			return err
		}
		gvk := crd.Spec.Group + "/" + v.Name + "/" + crd.Spec.Names.Kind
		c := jsonschema.NewCompiler()
		url := "mem://" + gvk + ".json"
		if err := c.AddResource(url, doc); err != nil {
			return err
		}
		sch, err := c.Compile(url)
		if err != nil {
			return fmt.Errorf("%s: %w", gvk, err)
		}
		into[gvk] = sch
	}
	return nil
}

// closeObjects makes a structural schema refuse unknown fields.
func closeObjects(v any) {
	switch n := v.(type) {
	case map[string]any:
		_, hasProps := n["properties"]
		_, hasAdditional := n["additionalProperties"]
		preserve, _ := n["x-kubernetes-preserve-unknown-fields"].(bool)
		if hasProps && !hasAdditional && !preserve {
			n["additionalProperties"] = false
		}
		for _, c := range n {
			closeObjects(c)
		}
	case []any:
		for _, c := range n {
			closeObjects(c)
		}
	}
}

// validateCustom checks a custom object against its CRD schema and its
// metadata against ObjectMeta.
func validateCustom(o object, schemas crdSchemas) error {
	gv := strings.SplitN(o.APIVersion, "/", 2)
	if len(gv) != 2 {
		return fmt.Errorf("%s %s: apiVersion %q has no group", o.Kind, o.Name, o.APIVersion)
	}
	sch, ok := schemas[o.APIVersion+"/"+o.Kind]
	if !ok {
		return fmt.Errorf("%s %s: no schema for %s %s: add its CRD to testdata/", o.Kind, o.Name, o.APIVersion, o.Kind)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(o.JSON))
	if err != nil {
		return err
	}
	if err := sch.Validate(inst); err != nil {
		return fmt.Errorf("%s %s: %w", o.Kind, o.Name, err)
	}
	var meta struct {
		Metadata json.RawMessage `json:"metadata"`
	}
	if err := json.Unmarshal(o.JSON, &meta); err != nil {
		return err
	}
	if err := strictJSON(meta.Metadata, &metav1.ObjectMeta{}); err != nil {
		return fmt.Errorf("%s %s: metadata: %w", o.Kind, o.Name, err)
	}
	return nil
}

func strictJSON(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	return d.Decode(v)
}

// scheduledBackup is CloudNativePG's ScheduledBackup, for which testdata/
// has no CRD: the fields used here, decoded strictly. Weaker than a schema;
// add the CRD to testdata/ to replace it.
type scheduledBackup struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   metav1.ObjectMeta `json:"metadata"`
	Spec       struct {
		Schedule             string `json:"schedule"`
		BackupOwnerReference string `json:"backupOwnerReference,omitempty"`
		Method               string `json:"method,omitempty"`
		Immediate            bool   `json:"immediate,omitempty"`
		Suspend              bool   `json:"suspend,omitempty"`
		Cluster              struct {
			Name string `json:"name"`
		} `json:"cluster"`
	} `json:"spec"`
}

// manifests is one rendered overlay, decoded.
type manifests struct {
	Deployment      *appsv1.Deployment
	Job             *batchv1.Job
	Services        map[string]*corev1.Service
	PDB             *policyv1.PodDisruptionBudget
	HPA             *autoscalingv2.HorizontalPodAutoscaler
	NetworkPolicy   *networkingv1.NetworkPolicy
	ServiceAccount  *corev1.ServiceAccount
	ConfigMaps      map[string]*corev1.ConfigMap
	Secrets         []*corev1.Secret
	Cluster         map[string]any
	ScheduledBackup *scheduledBackup
}

// decode validates every object (strict types, CRD schemas) and sorts them
// into a manifests. It refuses duplicates of the singletons.
func decode(objs []object, schemas crdSchemas) (*manifests, error) {
	m := &manifests{Services: map[string]*corev1.Service{}, ConfigMaps: map[string]*corev1.ConfigMap{}}
	once := func(have bool, o object) error {
		if have {
			return fmt.Errorf("a second %s (%s): the checks expect one", o.Kind, o.Name)
		}
		return nil
	}
	for _, o := range objs {
		if strings.HasPrefix(o.APIVersion, "postgresql.cnpg.io/") {
			if o.Kind == "ScheduledBackup" {
				var sb scheduledBackup
				if err := strictJSON(o.JSON, &sb); err != nil {
					return nil, fmt.Errorf("ScheduledBackup %s: %w", o.Name, err)
				}
				if err := once(m.ScheduledBackup != nil, o); err != nil {
					return nil, err
				}
				m.ScheduledBackup = &sb
				continue
			}
			if err := validateCustom(o, schemas); err != nil {
				return nil, err
			}
			if o.Kind == "Cluster" {
				if err := once(m.Cluster != nil, o); err != nil {
					return nil, err
				}
				if err := json.Unmarshal(o.JSON, &m.Cluster); err != nil {
					return nil, err
				}
			}
			continue
		}
		obj, err := decodeBuiltin(o)
		if err != nil {
			return nil, err
		}
		var dup bool
		switch t := obj.(type) {
		case *appsv1.Deployment:
			dup, m.Deployment = m.Deployment != nil, t
		case *batchv1.Job:
			dup, m.Job = m.Job != nil, t
		case *corev1.Service:
			m.Services[t.Name] = t
		case *policyv1.PodDisruptionBudget:
			dup, m.PDB = m.PDB != nil, t
		case *autoscalingv2.HorizontalPodAutoscaler:
			dup, m.HPA = m.HPA != nil, t
		case *networkingv1.NetworkPolicy:
			dup, m.NetworkPolicy = m.NetworkPolicy != nil, t
		case *corev1.ServiceAccount:
			dup, m.ServiceAccount = m.ServiceAccount != nil, t
		case *corev1.ConfigMap:
			m.ConfigMaps[t.Name] = t
		case *corev1.Secret:
			m.Secrets = append(m.Secrets, t)
		default:
			return nil, fmt.Errorf("%s %s: no check covers this kind", o.Kind, o.Name)
		}
		if dup {
			return nil, fmt.Errorf("a second %s (%s): the checks expect one", o.Kind, o.Name)
		}
	}
	for what, missing := range map[string]bool{
		"Deployment": m.Deployment == nil, "Job": m.Job == nil, "PodDisruptionBudget": m.PDB == nil,
		"HorizontalPodAutoscaler": m.HPA == nil, "NetworkPolicy": m.NetworkPolicy == nil,
		"ServiceAccount": m.ServiceAccount == nil, "Cluster": m.Cluster == nil, "ScheduledBackup": m.ScheduledBackup == nil,
	} {
		if missing {
			return nil, fmt.Errorf("no %s rendered", what)
		}
	}
	return m, nil
}

// signetdCLI is what signetd accepts, read from its source.
type signetdCLI struct {
	Flags       map[string]bool // --config, --dev, ...
	Commands    map[string]bool // migrate, admin-cert, dev
	MigrateVerb map[string]bool // up, down, version
}

// readSignetdCLI parses cmd/signetd/main.go: the names given to fs.XxxVar
// in parseFlags, the words run compares args[0] with, and the cases of
// migrateCmd's switch. The manifests are checked against these, so that a
// renamed flag fails here and not in a rollout.
func readSignetdCLI(path string) (*signetdCLI, error) {
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
	if err != nil {
		return nil, err
	}
	cli := &signetdCLI{Flags: map[string]bool{}, Commands: map[string]bool{}, MigrateVerb: map[string]bool{}}
	str := func(e ast.Expr) (string, bool) {
		if l, ok := e.(*ast.BasicLit); ok && l.Kind == token.STRING {
			s, err := strconv.Unquote(l.Value)
			return s, err == nil
		}
		return "", false
	}
	for _, d := range f.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if !ok {
			continue
		}
		ast.Inspect(fn, func(n ast.Node) bool {
			switch fn.Name.Name {
			case "parseFlags":
				if c, ok := n.(*ast.CallExpr); ok {
					if sel, ok := c.Fun.(*ast.SelectorExpr); ok && strings.HasSuffix(sel.Sel.Name, "Var") && len(c.Args) >= 2 {
						if s, ok := str(c.Args[1]); ok {
							cli.Flags[s] = true
						}
					}
				}
			case "run":
				if b, ok := n.(*ast.BinaryExpr); ok && b.Op == token.EQL {
					if ix, ok := b.X.(*ast.IndexExpr); ok {
						if id, ok := ix.X.(*ast.Ident); ok && id.Name == "args" {
							if s, ok := str(b.Y); ok {
								cli.Commands[s] = true
							}
						}
					}
				}
			case "migrateCmd":
				if cc, ok := n.(*ast.CaseClause); ok {
					for _, e := range cc.List {
						if s, ok := str(e); ok {
							cli.MigrateVerb[s] = true
						}
					}
				}
			}
			return true
		})
	}
	if len(cli.Flags) == 0 || !cli.Commands["migrate"] || !cli.MigrateVerb["up"] {
		return nil, fmt.Errorf("%s: found flags %v, commands %v, migrate verbs %v: has main.go changed shape?", path, cli.Flags, cli.Commands, cli.MigrateVerb)
	}
	return cli, nil
}

// checkArgs refuses an argument list signetd would not parse: an unknown
// command or migrate verb, or a flag parseFlags does not define.
func (cli *signetdCLI) checkArgs(args []string) error {
	rest := args
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		if !cli.Commands[rest[0]] {
			return fmt.Errorf("signetd has no command %q", rest[0])
		}
		if rest[0] == "migrate" {
			if len(rest) < 2 || !cli.MigrateVerb[rest[1]] {
				return fmt.Errorf("signetd migrate: want one of %v, got %v", keys(cli.MigrateVerb), rest[1:])
			}
			rest = rest[2:]
		} else {
			rest = rest[1:]
		}
	}
	for _, a := range rest {
		if !strings.HasPrefix(a, "-") {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !cli.Flags[name] {
			return fmt.Errorf("signetd has no flag %q", a)
		}
	}
	return nil
}

// flagValue returns the value after --name (or -name) in args.
func flagValue(args []string, name string) (string, bool) {
	for i, a := range args {
		n, v, eq := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || n != name {
			continue
		}
		if eq {
			return v, true
		}
		if i+1 < len(args) {
			return args[i+1], true
		}
	}
	return "", false
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// port returns the port of a listen address such as "0.0.0.0:9443".
func port(addr string) (int32, error) {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(p, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("port of %q: %w", addr, err)
	}
	return int32(n), nil
}

// listenerPorts are the ports signetd listens on with this configuration,
// by the names the manifests give them.
func listenerPorts(cfg *server.Config) (map[string]int32, error) {
	out := map[string]int32{}
	for name, addr := range map[string]string{"grpc": cfg.GRPCAddr, "http": cfg.HTTPAddr, "admin": cfg.AdminAddr, "pprof": cfg.PprofAddr} {
		if addr == "" {
			continue
		}
		p, err := port(addr)
		if err != nil {
			return nil, fmt.Errorf("config %s address: %w", name, err)
		}
		out[name] = p
	}
	return out, nil
}

// loadSignetConfig runs signetd's own loader on a configuration, so that a
// key it does not know, devProviders, or a dev- provider fails here.
func loadSignetConfig(dir, name string, data []byte) (*server.Config, error) {
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		return nil, err
	}
	return server.LoadConfig(p)
}

// configFiles are the files a configuration names; a KMS URI (awskms:,
// pkcs11:) is not a file, a softkms key is.
func configFiles(cfg *server.Config) map[string]string {
	out := map[string]string{
		"tls.cert": cfg.TLS.Cert, "tls.key": cfg.TLS.Key, "subjectKeyFile": cfg.SubjectKeyFile,
		"signer.chain": cfg.Signer.Chain, "adminCA.cert": cfg.AdminCA.Cert, "adminCA.key": cfg.AdminCA.Key,
	}
	if strings.HasPrefix(cfg.Signer.Key, "/") {
		out["signer.key"] = cfg.Signer.Key
	}
	for _, p := range cfg.Providers {
		out["provider "+p.ID] = p.PublicKey
	}
	for _, o := range cfg.OtherCAs {
		out["otherCAs "+o.Name+" roots"] = o.Roots
		out["otherCAs "+o.Name+" intermediates"] = o.Intermediates
	}
	for bank, ch := range cfg.RAChannels {
		out["raChannels "+bank] = ch.SecretFile
	}
	for k, v := range out {
		if v == "" {
			delete(out, k)
		}
	}
	return out
}
