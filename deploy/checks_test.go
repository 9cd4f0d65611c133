package deploy

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/signet-ca/signet/server"
)

// Names shared by the manifests, compose and the image.
const (
	imageRepo   = "ghcr.io/signet-ca/signet"
	probeBinary = "/usr/local/bin/signet-healthprobe"
	configKey   = "signet.json"
	staffNS     = "staff"
	nonrootUID  = 65532
)

// overlay is a decoded overlay plus what the checks derive from it.
type overlay struct {
	*manifests
	Config *server.Config
	Ports  map[string]int32 // grpc, http, admin: from the config
	CLI    *signetdCLI
}

// check is one agreement the manifests must keep; each can fail alone.
type check struct {
	name string
	fn   func(*overlay) error
}

var checks = []check{
	{"security", checkSecurity},
	{"ports", checkPorts},
	{"probes", checkProbes},
	{"config files mounted", checkConfigMounts},
	{"services", checkServices},
	{"admin network policy", checkAdminPolicy},
	{"availability", checkAvailability},
	{"database", checkDatabase},
	{"images", checkImages},
	{"migration job", checkMigrationJob},
	{"secrets by reference", checkNoSecrets},
}

func container(spec *corev1.PodSpec, name string) (*corev1.Container, error) {
	for i := range spec.Containers {
		if spec.Containers[i].Name == name {
			return &spec.Containers[i], nil
		}
	}
	return nil, fmt.Errorf("no container %q", name)
}

func serverContainer(o *overlay) (*corev1.Container, error) {
	return container(&o.Deployment.Spec.Template.Spec, "signetd")
}

// configMapOf returns the ConfigMap mounted in a pod that carries
// signet.json, and the path signetd finds it at.
func configMapOf(o *overlay, spec *corev1.PodSpec, c *corev1.Container) (string, string, error) {
	for _, v := range spec.Volumes {
		if v.ConfigMap == nil {
			continue
		}
		cm, ok := o.ConfigMaps[v.ConfigMap.Name]
		if !ok {
			return "", "", fmt.Errorf("volume %s: ConfigMap %s is not rendered", v.Name, v.ConfigMap.Name)
		}
		if _, ok := cm.Data[configKey]; !ok {
			continue
		}
		for _, m := range c.VolumeMounts {
			if m.Name == v.Name {
				return cm.Name, path.Join(m.MountPath, configKey), nil
			}
		}
	}
	return "", "", fmt.Errorf("container %s mounts no ConfigMap with %s", c.Name, configKey)
}

func checkSecurity(o *overlay) error {
	for what, spec := range map[string]*corev1.PodSpec{"Deployment": &o.Deployment.Spec.Template.Spec, "Job": &o.Job.Spec.Template.Spec} {
		psc := spec.SecurityContext
		if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser != nonrootUID {
			return fmt.Errorf("%s: the pod must run as non-root uid %d", what, nonrootUID)
		}
		if psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
			return fmt.Errorf("%s: pod seccomp profile must be RuntimeDefault", what)
		}
		if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
			return fmt.Errorf("%s: signetd needs no Kubernetes API token: automountServiceAccountToken: false", what)
		}
		if spec.ServiceAccountName != o.ServiceAccount.Name {
			return fmt.Errorf("%s: service account %q, want %q", what, spec.ServiceAccountName, o.ServiceAccount.Name)
		}
		for _, c := range spec.Containers {
			sc := c.SecurityContext
			switch {
			case sc == nil:
				return fmt.Errorf("%s/%s: no securityContext", what, c.Name)
			case sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot:
				return fmt.Errorf("%s/%s: runAsNonRoot must be true", what, c.Name)
			case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
				return fmt.Errorf("%s/%s: readOnlyRootFilesystem must be true", what, c.Name)
			case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
				return fmt.Errorf("%s/%s: allowPrivilegeEscalation must be false", what, c.Name)
			case sc.Privileged != nil && *sc.Privileged:
				return fmt.Errorf("%s/%s: privileged", what, c.Name)
			case sc.Capabilities == nil || len(sc.Capabilities.Add) > 0 || !equalStrings(sc.Capabilities.Drop, "ALL"):
				return fmt.Errorf("%s/%s: capabilities must drop ALL and add none", what, c.Name)
			case sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault:
				return fmt.Errorf("%s/%s: seccomp profile must be RuntimeDefault", what, c.Name)
			case c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero():
				return fmt.Errorf("%s/%s: cpu and memory requests and a memory limit are required", what, c.Name)
			}
		}
	}
	return nil
}

func equalStrings[S ~string](got []S, want ...string) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if string(got[i]) != want[i] {
			return false
		}
	}
	return true
}

// checkPorts: the container ports are exactly the listeners of the
// configuration the pod mounts, under the names grpc, http and admin.
func checkPorts(o *overlay) error {
	c, err := serverContainer(o)
	if err != nil {
		return err
	}
	got := map[string]int32{}
	for _, p := range c.Ports {
		got[p.Name] = p.ContainerPort
	}
	if fmt.Sprint(got) != fmt.Sprint(o.Ports) {
		return fmt.Errorf("container ports %v, but the mounted config listens on %v", got, o.Ports)
	}
	return nil
}

// checkProbes: every probe asks gRPC health on the gRPC port, through the
// kubelet's own gRPC probe in TLS mode or through signet-healthprobe, and
// liveness tolerates NOT_SERVING (a database outage must not restart
// every replica).
func checkProbes(o *overlay) error {
	c, err := serverContainer(o)
	if err != nil {
		return err
	}
	grpcPort := o.Ports["grpc"]
	for name, p := range map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe, "startup": c.StartupProbe} {
		if p == nil {
			return fmt.Errorf("%s probe missing", name)
		}
		switch {
		case p.GRPC != nil:
			if p.GRPC.Port != grpcPort {
				return fmt.Errorf("%s probe: gRPC port %d, the gRPC listener is %d", name, p.GRPC.Port, grpcPort)
			}
			if p.GRPC.Mode == nil || *p.GRPC.Mode != corev1.GRPCProbeModeTLS {
				return fmt.Errorf("%s probe: signetd's gRPC port is TLS only: mode: TLS", name)
			}
			if name == "liveness" {
				return errors.New("liveness probe: the kubelet's gRPC probe fails on NOT_SERVING: use signet-healthprobe -live")
			}
		case p.Exec != nil:
			cmd := p.Exec.Command
			if len(cmd) == 0 || cmd[0] != probeBinary {
				return fmt.Errorf("%s probe: runs %v, want %s", name, cmd, probeBinary)
			}
			addr, _ := flagValue(cmd[1:], "addr")
			pt, err := port(addr)
			if err != nil || pt != grpcPort {
				return fmt.Errorf("%s probe: -addr %q, the gRPC listener is port %d", name, addr, grpcPort)
			}
			if ca, ok := flagValue(cmd[1:], "ca"); !ok || !mounted(c, ca) {
				return fmt.Errorf("%s probe: -ca %q is not in a mounted volume", name, ca)
			}
			live := "false"
			for _, a := range cmd[1:] {
				if a == "-live" || a == "--live" {
					live = "true"
				}
			}
			if want := map[bool]string{true: "true", false: "false"}[name != "readiness"]; live != want {
				return fmt.Errorf("%s probe: -live is %s, want %s (readiness wants SERVING; liveness and startup any answer)", name, live, want)
			}
		default:
			return fmt.Errorf("%s probe: neither gRPC nor signet-healthprobe", name)
		}
	}
	return nil
}

// mounted reports whether a file path lies inside one of c's volume mounts.
func mounted(c *corev1.Container, file string) bool {
	for _, m := range c.VolumeMounts {
		if strings.HasPrefix(file, strings.TrimSuffix(m.MountPath, "/")+"/") {
			return true
		}
	}
	return false
}

// checkConfigMounts: the Deployment runs signetd --config on the mounted
// signet.json, and every file that configuration names is in a volume.
func checkConfigMounts(o *overlay) error {
	c, err := serverContainer(o)
	if err != nil {
		return err
	}
	if err := o.CLI.checkArgs(c.Args); err != nil {
		return fmt.Errorf("Deployment args %v: %w", c.Args, err)
	}
	_, cfgPath, err := configMapOf(o, &o.Deployment.Spec.Template.Spec, c)
	if err != nil {
		return err
	}
	if got, _ := flagValue(c.Args, "config"); got != cfgPath {
		return fmt.Errorf("Deployment runs --config %q, the ConfigMap is mounted at %q", got, cfgPath)
	}
	for key, f := range configFiles(o.Config) {
		if !mounted(c, f) {
			return fmt.Errorf("config %s names %s, which no volume provides", key, f)
		}
	}
	return nil
}

// checkServices: selectors pick the server pods, target ports name real
// container ports, gRPC ports say so, and the admin port has a Service of
// its own.
func checkServices(o *overlay) error {
	c, err := serverContainer(o)
	if err != nil {
		return err
	}
	pod := labels.Set(o.Deployment.Spec.Template.Labels)
	byName := map[string]int32{}
	for _, p := range c.Ports {
		byName[p.Name] = p.ContainerPort
	}
	exposes := map[string]string{} // container port name -> Service
	for _, s := range o.Services {
		if len(s.Spec.Selector) == 0 || !labels.SelectorFromSet(s.Spec.Selector).Matches(pod) {
			return fmt.Errorf("Service %s does not select the server pods", s.Name)
		}
		for _, p := range s.Spec.Ports {
			target := p.TargetPort
			name := target.StrVal
			if target.Type == intstr.Int {
				for n, v := range byName {
					if v == target.IntVal {
						name = n
					}
				}
			}
			if _, ok := byName[name]; !ok {
				return fmt.Errorf("Service %s port %s targets %s, which the container does not expose", s.Name, p.Name, target.String())
			}
			if prev, ok := exposes[name]; ok && prev != s.Name {
				return fmt.Errorf("container port %s is behind both %s and %s", name, prev, s.Name)
			}
			exposes[name] = s.Name
			if name == "grpc" || name == "admin" {
				if p.AppProtocol == nil || *p.AppProtocol != "grpc" {
					return fmt.Errorf("Service %s port %s: appProtocol grpc for the gRPC listener", s.Name, p.Name)
				}
			}
		}
	}
	for _, want := range []string{"grpc", "http", "admin"} {
		if _, ok := exposes[want]; !ok {
			return fmt.Errorf("no Service exposes %s", want)
		}
	}
	if exposes["admin"] == exposes["grpc"] {
		return fmt.Errorf("the admin port shares Service %s with the public API", exposes["admin"])
	}
	// Profiles are for operators: beside the admin API, never public.
	if _, on := o.Ports["pprof"]; on && exposes["pprof"] != exposes["admin"] {
		return fmt.Errorf("the pprof port is behind %q, not the admin Service %s", exposes["pprof"], exposes["admin"])
	}
	return nil
}

// checkAdminPolicy: the NetworkPolicy covers the server pods, and every
// ingress rule that lets the admin port in admits only the staff namespace.
func checkAdminPolicy(o *overlay) error {
	np := o.NetworkPolicy
	sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
	if err != nil {
		return err
	}
	if !sel.Matches(labels.Set(o.Deployment.Spec.Template.Labels)) {
		return errors.New("the NetworkPolicy does not select the server pods")
	}
	if !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) {
		return errors.New("the NetworkPolicy does not restrict ingress")
	}
	for _, name := range []string{"admin", "pprof"} {
		if _, on := o.Ports[name]; !on && name != "admin" {
			continue
		}
		if err := staffOnly(np, name, o.Ports[name]); err != nil {
			return err
		}
	}
	return nil
}

// staffOnly: some ingress rule admits the staff namespace to the port, and
// every rule that admits the port admits only that namespace.
func staffOnly(np *networkingv1.NetworkPolicy, portName string, portNumber int32) error {
	admitted := false
	for i, r := range np.Spec.Ingress {
		if !ruleAdmitsPort(r.Ports, portName, portNumber) {
			continue
		}
		if len(r.From) == 0 {
			return fmt.Errorf("ingress rule %d lets anyone reach the %s port", i, portName)
		}
		for _, peer := range r.From {
			if peer.IPBlock != nil || peer.PodSelector != nil && peer.NamespaceSelector == nil {
				return fmt.Errorf("ingress rule %d admits the %s port from outside the %s namespace", i, portName, staffNS)
			}
			ns := peer.NamespaceSelector
			if ns == nil || len(ns.MatchExpressions) > 0 || len(ns.MatchLabels) != 1 || ns.MatchLabels["kubernetes.io/metadata.name"] != staffNS {
				return fmt.Errorf("ingress rule %d: the %s port must be admitted only by namespaceSelector kubernetes.io/metadata.name=%s", i, portName, staffNS)
			}
		}
		admitted = true
	}
	if !admitted {
		return fmt.Errorf("no ingress rule admits the staff namespace to the %s port", portName)
	}
	return nil
}

// ruleAdmitsPort: an empty port list admits every port.
func ruleAdmitsPort(ports []networkingv1.NetworkPolicyPort, name string, number int32) bool {
	if len(ports) == 0 {
		return true
	}
	for _, p := range ports {
		if p.Port == nil || p.Port.Type == intstr.String && p.Port.StrVal == name || p.Port.Type == intstr.Int && p.Port.IntVal == number {
			return true
		}
		if p.EndPort != nil && p.Port.Type == intstr.Int && p.Port.IntVal <= number && number <= *p.EndPort {
			return true
		}
	}
	return false
}

func checkAvailability(o *overlay) error {
	d := o.Deployment
	if d.Spec.Replicas == nil || *d.Spec.Replicas < 2 {
		return errors.New("the Deployment needs at least 2 replicas")
	}
	if o.HPA.Spec.MinReplicas == nil || *o.HPA.Spec.MinReplicas < 2 || o.HPA.Spec.MaxReplicas < *o.HPA.Spec.MinReplicas {
		return errors.New("the HPA must keep at least 2 replicas")
	}
	ref := o.HPA.Spec.ScaleTargetRef
	if ref.Kind != "Deployment" || ref.Name != d.Name || ref.APIVersion != "apps/v1" {
		return fmt.Errorf("the HPA scales %s %s, not the Deployment %s", ref.Kind, ref.Name, d.Name)
	}
	sel, err := metav1.LabelSelectorAsSelector(o.PDB.Spec.Selector)
	if err != nil {
		return err
	}
	if !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
		return errors.New("the PodDisruptionBudget does not select the server pods")
	}
	if ma := o.PDB.Spec.MinAvailable; ma == nil || ma.Type == intstr.Int && (ma.IntVal < 1 || ma.IntVal >= *o.HPA.Spec.MinReplicas) {
		return errors.New("the PodDisruptionBudget's minAvailable must be at least 1 and below the HPA's minimum, or no node can drain")
	}
	return nil
}

// checkDatabase: signetd and the migration reach the CloudNativePG
// primary through <cluster>-rw, with the operator's CA; the migration
// connects as the owner of the database the cluster bootstraps (the
// migration role, password from <cluster>-app), signetd as a managed role
// that owns nothing (the service role, password from that role's Secret),
// and the Job names the service role so that migrate up grants it; and the
// cluster is HA with synchronous replication and backups.
func checkDatabase(o *overlay) error {
	name, _ := nested(o.Cluster, "metadata", "name").(string)
	initdb, _ := nested(o.Cluster, "spec", "bootstrap", "initdb").(map[string]any)
	db, _ := initdb["database"].(string)
	owner, _ := initdb["owner"].(string)
	if name == "" || db == "" || owner == "" {
		return errors.New("the Cluster must name its database and owner in bootstrap.initdb")
	}
	service, serviceSecret := "", ""
	roles, _ := nested(o.Cluster, "spec", "managed", "roles").([]any)
	for _, r := range roles {
		m, _ := r.(map[string]any)
		if n, _ := m["name"].(string); n != "" && n != owner && m["login"] == true {
			service = n
			serviceSecret, _ = nested(m, "passwordSecret", "name").(string)
		}
	}
	if service == "" || serviceSecret == "" {
		return fmt.Errorf("the Cluster needs a managed login role other than the owner %q, with a password Secret: signetd refuses to serve as the owner", owner)
	}
	if n, _ := nested(o.Cluster, "spec", "instances").(float64); n < 3 {
		return fmt.Errorf("the Cluster has %v instances, want 3", n)
	}
	if n, _ := nested(o.Cluster, "spec", "postgresql", "synchronous", "number").(float64); n < 1 {
		return errors.New("the Cluster needs synchronous replication (postgresql.synchronous.number ≥ 1)")
	}
	if nested(o.Cluster, "spec", "backup", "barmanObjectStore", "s3Credentials", "secretAccessKey", "name") == nil {
		return errors.New("the Cluster's backups need object-store credentials from a Secret")
	}
	if o.ScheduledBackup.Spec.Cluster.Name != name {
		return fmt.Errorf("the ScheduledBackup backs up %q, the Cluster is %q", o.ScheduledBackup.Spec.Cluster.Name, name)
	}
	type conn struct{ what, env, user, secret string }
	for _, want := range []struct {
		spec  *corev1.PodSpec
		conns []conn
	}{
		{&o.Deployment.Spec.Template.Spec, []conn{{"Deployment", "DATABASE_URL", service, serviceSecret}}},
		{&o.Job.Spec.Template.Spec, []conn{{"Job", "MIGRATION_DATABASE_URL", owner, name + "-app"}, {"Job", "DATABASE_URL", service, ""}}},
	} {
		spec := want.spec
		c := &spec.Containers[0]
		env := map[string]corev1.EnvVar{}
		for _, e := range c.Env {
			env[e.Name] = e
		}
		var q url.Values
		for _, cn := range want.conns {
			what := cn.what
			raw := env[cn.env].Value
			u, err := url.Parse(raw)
			if err != nil || raw == "" {
				return fmt.Errorf("%s: %s %q", what, cn.env, raw)
			}
			if u.Hostname() != name+"-rw" {
				return fmt.Errorf("%s: %s host %q, want the primary's Service %s-rw", what, cn.env, u.Hostname(), name)
			}
			if u.Path != "/"+db || u.User.Username() != cn.user {
				return fmt.Errorf("%s: %s user %q database %q, want %q and %q", what, cn.env, u.User.Username(), u.Path, cn.user, db)
			}
			if _, has := u.User.Password(); has {
				return fmt.Errorf("%s: a password in %s: use PGPASSWORD from a Secret", what, cn.env)
			}
			q = u.Query()
			if q.Get("sslmode") != "verify-full" || !mounted(c, q.Get("sslrootcert")) {
				return fmt.Errorf("%s: %s must verify the server (sslmode=verify-full) with a mounted sslrootcert", what, cn.env)
			}
			if cn.secret == "" {
				continue // named for its role only: the Job never connects as it
			}
			pw := env["PGPASSWORD"].ValueFrom
			if pw == nil || pw.SecretKeyRef == nil || pw.SecretKeyRef.Name != cn.secret || pw.SecretKeyRef.Key != "password" {
				return fmt.Errorf("%s: PGPASSWORD must come from Secret %s, key password", what, cn.secret)
			}
		}
		what := want.conns[0].what
		var caSecret string
		for _, v := range spec.Volumes {
			for _, m := range c.VolumeMounts {
				if m.Name == v.Name && v.Secret != nil && strings.HasPrefix(q.Get("sslrootcert"), m.MountPath+"/") {
					caSecret = v.Secret.SecretName
				}
			}
		}
		if caSecret != name+"-ca" {
			return fmt.Errorf("%s: sslrootcert comes from Secret %q, want the operator's %s-ca", what, caSecret, name)
		}
	}
	return nil
}

// checkImages: the server and the migration run the same image, ours.
func checkImages(o *overlay) error {
	d, j := o.Deployment.Spec.Template.Spec.Containers, o.Job.Spec.Template.Spec.Containers
	img := d[0].Image
	if !strings.HasPrefix(img, imageRepo+":") && !strings.HasPrefix(img, imageRepo+"@") {
		return fmt.Errorf("image %q is not %s", img, imageRepo)
	}
	for _, c := range append(append([]corev1.Container{}, d...), j...) {
		if c.Image != img {
			return fmt.Errorf("container %s runs %s, the server %s", c.Name, c.Image, img)
		}
	}
	return nil
}

// checkMigrationJob: the Job runs `signetd migrate up` against the same
// ConfigMap the server mounts.
func checkMigrationJob(o *overlay) error {
	spec := &o.Job.Spec.Template.Spec
	c := &spec.Containers[0]
	if len(c.Command) > 0 || len(c.Args) < 2 || c.Args[0] != "migrate" || c.Args[1] != "up" {
		return fmt.Errorf("the Job runs %v %v, want the image's signetd with migrate up", c.Command, c.Args)
	}
	if err := o.CLI.checkArgs(c.Args); err != nil {
		return fmt.Errorf("Job args %v: %w", c.Args, err)
	}
	cm, cfgPath, err := configMapOf(o, spec, c)
	if err != nil {
		return fmt.Errorf("Job: %w", err)
	}
	if got, _ := flagValue(c.Args, "config"); got != cfgPath {
		return fmt.Errorf("the Job runs --config %q, its ConfigMap is mounted at %q", got, cfgPath)
	}
	srv, err := serverContainer(o)
	if err != nil {
		return err
	}
	if serverCM, _, err := configMapOf(o, &o.Deployment.Spec.Template.Spec, srv); err != nil || serverCM != cm {
		return fmt.Errorf("the Job migrates with ConfigMap %s, the server runs with %s", cm, serverCM)
	}
	if spec.RestartPolicy != corev1.RestartPolicyOnFailure && spec.RestartPolicy != corev1.RestartPolicyNever {
		return fmt.Errorf("Job restartPolicy %s", spec.RestartPolicy)
	}
	return nil
}

// checkNoSecrets: Secrets are made out of band (deploy/README.md) and only
// referenced; none is rendered, so no key material sits in the repository.
func checkNoSecrets(o *overlay) error {
	for _, s := range o.Secrets {
		return fmt.Errorf("Secret %s is rendered: keep secrets out of the manifests and reference them", s.Name)
	}
	for _, cm := range o.ConfigMaps {
		for k, v := range cm.Data {
			if strings.Contains(v, "PRIVATE KEY") {
				return fmt.Errorf("ConfigMap %s key %s holds a private key", cm.Name, k)
			}
		}
	}
	return nil
}

func nested(m map[string]any, path ...string) any {
	var cur any = m
	for _, p := range path {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = mm[p]
	}
	return cur
}
