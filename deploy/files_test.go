package deploy

import (
	"errors"
	"fmt"
	"os"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/signet-ca/signet/server"
)

// The compose file, the Dockerfile and the systemd unit, checked against
// signetd's configuration, its flags and the Kubernetes manifests.

type composeFile struct {
	Services map[string]composeService `json:"services"`
	Configs  map[string]struct {
		File string `json:"file"`
	} `json:"configs"`
	Secrets map[string]struct {
		File string `json:"file"`
	} `json:"secrets"`
}

type composeService struct {
	Image       string   `json:"image"`
	Command     []string `json:"command"`
	Ports       []string `json:"ports"`
	Expose      []string `json:"expose"`
	User        string   `json:"user"`
	ReadOnly    bool     `json:"read_only"`
	CapDrop     []string `json:"cap_drop"`
	Healthcheck *struct {
		Test []string `json:"test"`
	} `json:"healthcheck"`
	DependsOn map[string]struct {
		Condition string `json:"condition"`
	} `json:"depends_on"`
	Configs []struct {
		Source string `json:"source"`
		Target string `json:"target"`
	} `json:"configs"`
	Secrets []string `json:"secrets"`
}

// compose is the parsed compose file and signetd's view of its config.
type compose struct {
	File   composeFile
	Config *server.Config
	Ports  map[string]int32
	CLI    *signetdCLI
}

func loadCompose(t *testing.T) *compose {
	t.Helper()
	c := &compose{CLI: cli(t)}
	mustYAML(t, "compose.yaml", &c.File)
	cfg, ok := c.File.Configs["signet"]
	if !ok {
		t.Fatal("compose.yaml: no config named signet")
	}
	b, err := os.ReadFile(path.Clean(cfg.File))
	if err != nil {
		t.Fatal(err)
	}
	if c.Config, err = loadSignetConfig(t.TempDir(), configKey, b); err != nil {
		t.Fatalf("signetd refuses %s: %v", cfg.File, err)
	}
	if c.Ports, err = listenerPorts(c.Config); err != nil {
		t.Fatal(err)
	}
	return c
}

// checkCompose: PostgreSQL 15, a migrate job that runs `signetd migrate up`
// on the mounted config, two signetd replicas after it, one image, the
// config's ports published, a shell-less health check on the gRPC port and
// every file the config names mounted as a compose secret.
func checkCompose(c *compose) error {
	s := c.File.Services
	if img := s["postgres"].Image; img != "postgres:15" && !strings.HasPrefix(img, "postgres:15.") && !strings.HasPrefix(img, "postgres:15-") {
		return fmt.Errorf("postgres runs %q, want PostgreSQL 15", img)
	}
	mig, ok := s["migrate"]
	if !ok {
		return errors.New("no migrate service")
	}
	if !strings.HasPrefix(mig.Image, imageRepo+":") {
		return fmt.Errorf("migrate runs %q, not %s", mig.Image, imageRepo)
	}
	if len(mig.Command) < 2 || mig.Command[0] != "migrate" || mig.Command[1] != "up" {
		return fmt.Errorf("migrate runs %v, want migrate up", mig.Command)
	}
	replicas := 0
	for name, svc := range s {
		if name != "migrate" && !strings.HasPrefix(name, "signetd") {
			continue
		}
		if err := c.CLI.checkArgs(svc.Command); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if svc.Image != mig.Image {
			return fmt.Errorf("%s runs %s, migrate runs %s", name, svc.Image, mig.Image)
		}
		if svc.User != fmt.Sprintf("%d:%d", nonrootUID, nonrootUID) || !svc.ReadOnly || !slices.Equal(svc.CapDrop, []string{"ALL"}) {
			return fmt.Errorf("%s: run as %d, read-only, with every capability dropped", name, nonrootUID)
		}
		var target string
		for _, cf := range svc.Configs {
			if cf.Source == "signet" {
				target = cf.Target
			}
		}
		if got, _ := flagValue(svc.Command, "config"); got == "" || got != target {
			return fmt.Errorf("%s runs --config %q, the signet config is mounted at %q", name, got, target)
		}
		for key, f := range configFiles(c.Config) {
			secret, ok := strings.CutPrefix(f, "/run/secrets/")
			if !ok || !slices.Contains(svc.Secrets, secret) {
				return fmt.Errorf("%s: config %s names %s, which is not a secret the service mounts", name, key, f)
			}
			if _, ok := c.File.Secrets[secret]; !ok {
				return fmt.Errorf("secret %s is not declared", secret)
			}
		}
		if name == "migrate" {
			continue
		}
		replicas++
		if svc.DependsOn["migrate"].Condition != "service_completed_successfully" {
			return fmt.Errorf("%s must wait for the migration to succeed", name)
		}
		published := map[int32]bool{}
		for _, p := range svc.Ports {
			i := strings.LastIndex(p, ":")
			n, err := strconv.ParseInt(strings.TrimSuffix(p[i+1:], "/tcp"), 10, 32)
			if err != nil {
				return fmt.Errorf("%s: port %q", name, p)
			}
			published[int32(n)] = true
		}
		for lis, p := range c.Ports {
			if !published[p] {
				return fmt.Errorf("%s does not publish the %s listener's port %d", name, lis, p)
			}
		}
		if len(published) != len(c.Ports) {
			return fmt.Errorf("%s publishes container ports %v, the config listens on %v", name, published, c.Ports)
		}
		hc := svc.Healthcheck
		if hc == nil || len(hc.Test) < 2 || hc.Test[0] != "CMD" || hc.Test[1] != probeBinary {
			return fmt.Errorf("%s: the image has no shell: the health check must be [CMD, %s, ...]", name, probeBinary)
		}
		if ca, _ := flagValue(hc.Test[2:], "ca"); !slices.Contains(svc.Secrets, strings.TrimPrefix(ca, "/run/secrets/")) {
			return fmt.Errorf("%s: the health check's -ca %q is not a secret the service mounts", name, ca)
		}
		addr, _ := flagValue(hc.Test[2:], "addr")
		if p, err := port(addr); err != nil || p != c.Ports["grpc"] {
			return fmt.Errorf("%s: health check on %q, the gRPC listener is port %d", name, addr, c.Ports["grpc"])
		}
	}
	if replicas < 2 {
		return fmt.Errorf("%d signetd replicas, want 2", replicas)
	}
	return nil
}

func TestCompose_AgreesWithSignetd(t *testing.T) {
	if err := checkCompose(loadCompose(t)); err != nil {
		t.Fatal(err)
	}
}

func TestCompose_ChecksCanFail(t *testing.T) {
	for name, f := range map[string]func(c *compose){
		"postgres 16":  func(c *compose) { c.File.Services["postgres"] = composeService{Image: "postgres:16"} },
		"migrate down": func(c *compose) { c.File.Services["migrate"].Command[1] = "down" },
		"one replica":  func(c *compose) { delete(c.File.Services, "signetd-2") },
		"another image": func(c *compose) {
			s := c.File.Services["signetd-1"]
			s.Image = "signet:latest"
			c.File.Services["signetd-1"] = s
		},
		"HTTP port not published": func(c *compose) {
			s := c.File.Services["signetd-2"]
			s.Ports = s.Ports[:1]
			c.File.Services["signetd-2"] = s
		},
		"gRPC port moved": func(c *compose) { c.Ports["grpc"] = 8443 },
		"shell health check": func(c *compose) {
			s := c.File.Services["signetd-1"]
			s.Healthcheck.Test = []string{"CMD-SHELL", "grpc_health_probe -addr :9443"}
		},
		"TLS key not mounted": func(c *compose) { c.Config.TLS.Key = "/etc/signet/server_key.pem" },
		"a flag signetd lacks": func(c *compose) {
			s := c.File.Services["signetd-1"]
			s.Command = append(slices.Clone(s.Command), "--listen", ":1")
			c.File.Services["signetd-1"] = s
		},
	} {
		c := loadCompose(t)
		f(c)
		if err := checkCompose(c); err == nil {
			t.Errorf("%s: went unnoticed", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}

// checkDockerfile: a golang:1.26 builder, static (CGO_ENABLED=0, -trimpath)
// by default, distroless static nonroot, the binaries where the manifests
// exec them, and the config's ports exposed.
func checkDockerfile(df string, ports map[string]int32) error {
	if !regexp.MustCompile(`(?m)^FROM golang:1\.26\S* AS build$`).MatchString(df) {
		return errors.New("no golang:1.26 build stage")
	}
	if !regexp.MustCompile(`(?m)^ARG CGO_ENABLED=0$`).MatchString(df) || !strings.Contains(df, "-trimpath") {
		return errors.New("the default build must be static (CGO_ENABLED=0) with -trimpath")
	}
	if !regexp.MustCompile(`(?m)^ARG RUNTIME=gcr\.io/distroless/static-debian12:nonroot$`).MatchString(df) ||
		!regexp.MustCompile(`(?m)^FROM \$\{RUNTIME\}$`).MatchString(df) {
		return errors.New("the runtime image must default to gcr.io/distroless/static-debian12:nonroot")
	}
	if !regexp.MustCompile(fmt.Sprintf(`(?m)^USER %d:%d$`, nonrootUID, nonrootUID)).MatchString(df) {
		return fmt.Errorf("USER must be the numeric %d:%d that runAsNonRoot can check", nonrootUID, nonrootUID)
	}
	if !regexp.MustCompile(`(?m)^ENTRYPOINT \["/usr/local/bin/signetd"\]$`).MatchString(df) {
		return errors.New(`ENTRYPOINT ["/usr/local/bin/signetd"]: the manifests give only its arguments`)
	}
	cp := regexp.MustCompile(`(?m)^COPY --from=build (.*) /usr/local/bin/$`).FindStringSubmatch(df)
	if cp == nil || !strings.Contains(cp[1], "/signetd") || !strings.Contains(cp[1], "/"+path.Base(probeBinary)) {
		return fmt.Errorf("signetd and %s must be copied to /usr/local/bin/", path.Base(probeBinary))
	}
	if !strings.Contains(df, "./deploy/healthprobe") || !strings.Contains(df, "./cmd/signetd") {
		return errors.New("the build must compile ./cmd/signetd and ./deploy/healthprobe")
	}
	m := regexp.MustCompile(`(?m)^EXPOSE (.*)$`).FindStringSubmatch(df)
	if m == nil {
		return errors.New("no EXPOSE")
	}
	exposed := strings.Fields(m[1])
	for lis, p := range ports {
		if !slices.Contains(exposed, strconv.Itoa(int(p))) {
			return fmt.Errorf("EXPOSE %v lacks the %s port %d", exposed, lis, p)
		}
	}
	return nil
}

func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	ports := loadCompose(t).Ports
	df := string(b)
	if err := checkDockerfile(df, ports); err != nil {
		t.Fatal(err)
	}
	for name, edit := range map[string][2]string{
		"alpine runtime":  {"ARG RUNTIME=gcr.io/distroless/static-debian12:nonroot", "ARG RUNTIME=alpine:3"},
		"cgo by default":  {"ARG CGO_ENABLED=0", "ARG CGO_ENABLED=1"},
		"root":            {"USER 65532:65532", "USER root"},
		"probe not built": {"./deploy/healthprobe", "./deploy/nothing"},
		"admin port":      {"EXPOSE 9443 9080 9444", "EXPOSE 9443 9080"},
		"go 1.25":         {"FROM golang:1.26 AS build", "FROM golang:1.25 AS build"},
	} {
		bad := strings.Replace(df, edit[0], edit[1], 1)
		if bad == df {
			t.Errorf("%s: %q is not in the Dockerfile: update this test", name, edit[0])
			continue
		}
		if err := checkDockerfile(bad, ports); err == nil {
			t.Errorf("%s: went unnoticed", name)
		}
	}
}

// checkUnit: ExecStart runs signetd with flags it has, and the hardening
// directives are there with the values that make them hardening.
func checkUnit(unit string, c *signetdCLI) error {
	directives := map[string][]string{}
	for _, line := range strings.Split(unit, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "[") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return fmt.Errorf("unit line %q", line)
		}
		directives[k] = append(directives[k], v)
	}
	exec := strings.Fields(strings.Join(directives["ExecStart"], ""))
	if len(exec) == 0 || path.Base(exec[0]) != "signetd" {
		return fmt.Errorf("ExecStart %v does not run signetd", exec)
	}
	if err := c.checkArgs(exec[1:]); err != nil {
		return fmt.Errorf("ExecStart: %w", err)
	}
	if _, ok := flagValue(exec[1:], "config"); !ok {
		return errors.New("ExecStart needs --config")
	}
	want := map[string]string{
		"NoNewPrivileges": "yes", "ProtectSystem": "strict", "PrivateTmp": "yes", "CapabilityBoundingSet": "",
		"ProtectHome": "yes", "PrivateDevices": "yes", "RestrictSUIDSGID": "yes", "ProtectKernelTunables": "yes",
		"ProtectControlGroups": "yes", "LockPersonality": "yes", "RestrictNamespaces": "yes",
	}
	for k, v := range want {
		got, ok := directives[k]
		if !ok || got[len(got)-1] != v {
			return fmt.Errorf("%s=%s is missing (have %v)", k, v, got)
		}
	}
	if d := directives["DynamicUser"]; !(len(d) > 0 && d[len(d)-1] == "yes") && len(directives["User"]) == 0 {
		return errors.New("DynamicUser=yes or a User= of its own")
	}
	return nil
}

func TestSystemdUnit(t *testing.T) {
	b, err := os.ReadFile("systemd/signetd.service")
	if err != nil {
		t.Fatal(err)
	}
	c := cli(t)
	unit := string(b)
	if err := checkUnit(unit, c); err != nil {
		t.Fatal(err)
	}
	for name, edit := range map[string][2]string{
		"no NoNewPrivileges":     {"NoNewPrivileges=yes", "NoNewPrivileges=no"},
		"capabilities kept":      {"CapabilityBoundingSet=\n", "CapabilityBoundingSet=CAP_NET_BIND_SERVICE\n"},
		"ProtectSystem full":     {"ProtectSystem=strict", "ProtectSystem=full"},
		"root":                   {"DynamicUser=yes", "DynamicUser=no"},
		"a flag signetd lacks":   {"ExecStart=/usr/local/bin/signetd --config /etc/signet/signet.json\n", "ExecStart=/usr/local/bin/signetd --config /etc/signet/signet.json --daemon\n"},
		"dev mode in production": {"ExecStart=/usr/local/bin/signetd --config /etc/signet/signet.json\n", "ExecStart=/usr/local/bin/signetd --dev\n"},
	} {
		bad := strings.Replace(unit, edit[0], edit[1], 1)
		if bad == unit {
			t.Errorf("%s: %q is not in the unit: update this test", name, edit[0])
			continue
		}
		if err := checkUnit(bad, c); err == nil {
			t.Errorf("%s: went unnoticed", name)
		}
	}
}
