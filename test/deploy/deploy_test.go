// Package deploy checks the files under deploy/: the compose file loads with the compose
// specification's own loader and every service has an image, ports and a health check;
// prometheus.yml passes promtool and scrapes every role; NATS is configured without tracing.
package deploy

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/dynamo-infra/dynamo-infra/internal/devservices"
	"github.com/dynamo-infra/dynamo-infra/internal/testkit"
)

var deployDir = filepath.Join("..", "..", "deploy")

func TestComposeFile(t *testing.T) {
	p, err := loadCompose(t, "docker-compose.yml", nil)
	if err != nil {
		t.Fatalf("compose-go refuses the file: %v", err)
	}
	if got := serviceNames(p); !slices.Equal(got, []string{"etcd-server", "nats-server"}) {
		t.Errorf("services %v", got)
	}
	published := map[string]bool{}
	for name, s := range p.Services {
		if s.Image == "" || strings.HasSuffix(s.Image, ":latest") || !strings.Contains(s.Image, ":") {
			t.Errorf("%s: image %q (want a pinned tag)", name, s.Image)
		}
		if len(s.Ports) == 0 {
			t.Errorf("%s: no ports", name)
		}
		for _, port := range s.Ports {
			published[port.Published] = true
		}
		if s.HealthCheck == nil || s.HealthCheck.Disable || len(s.HealthCheck.Test) == 0 {
			t.Errorf("%s: no health check", name)
		}
	}
	// The same ports as dynamoctl dev services, so either can stand in for the other.
	for _, port := range []int{devservices.DefaultNATSPort, devservices.DefaultNATSMonitorPort, devservices.DefaultEtcdPort} {
		if !published[strconv.Itoa(port)] {
			t.Errorf("port %d not published", port)
		}
	}
	if len(p.Networks) == 0 || p.Networks["default"].Name != "dynamo" {
		t.Errorf("the default network should be named dynamo: %+v", p.Networks)
	}
}

// Services without authentication are published on loopback unless the user says otherwise.
func TestComposePortsBindLoopbackByDefault(t *testing.T) {
	for _, file := range []string{"docker-compose.yml", "docker-observability.yml"} {
		for _, tc := range []struct {
			env  []string
			want string
		}{
			{[]string{grafanaPasswordVar + "=x"}, "127.0.0.1"},
			{[]string{grafanaPasswordVar + "=x", "DYNAMO_BIND_ADDRESS=0.0.0.0"}, "0.0.0.0"},
		} {
			p, err := loadCompose(t, file, tc.env, "nvidia")
			if err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			for name, s := range p.Services {
				for _, port := range s.Ports {
					if port.HostIP != tc.want {
						t.Errorf("%s: %s publishes %s on %q with %v, want %s", file, name, port.Published, port.HostIP, tc.env, tc.want)
					}
				}
			}
		}
	}
}

func TestNATSConfig(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(deployDir, "nats", "nats.conf"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "#") {
			continue
		}
		for _, bad := range []string{"trace", "debug", "logtime: false"} {
			if strings.HasPrefix(line, bad) {
				t.Errorf("nats.conf sets %q", line)
			}
		}
	}
	for _, want := range []string{"max_payload: 15728640", "jetstream", "http_port: 8222"} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("nats.conf lacks %q", want)
		}
	}
}

func TestPrometheusConfig(t *testing.T) {
	path := filepath.Join(deployDir, "observability", "prometheus.yml")
	// The pinned promtool (tools/promtool), as for scrape-config's output; it runs in the
	// repository root.
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	if out, errOut, err := testkit.RunTool("promtool", "check", "config", abs); err != nil {
		t.Fatalf("promtool check config: %v\n%s%s", err, out, errOut)
	}
	cfg := readPrometheusConfig(t)
	jobs := map[string]bool{}
	roles := map[string]bool{}
	for _, j := range cfg.ScrapeConfigs {
		jobs[j.JobName] = true
		for _, sc := range j.StaticConfigs {
			roles[sc.Labels["dynamo_component_type"]] = true
		}
	}
	for _, want := range []string{"nats", "etcd", "dcgm", "dynamo-frontend", "dynamo-workers", "dynamo-operator"} {
		if !jobs[want] {
			t.Errorf("no job %s", want)
		}
	}
	for _, role := range []string{"frontend", "worker", "prefill", "decode"} {
		if !roles[role] {
			t.Errorf("role %s is not scraped", role)
		}
	}
}

// promConfig is the part of prometheus.yml the tests read.
type promConfig struct {
	ScrapeConfigs []struct {
		JobName       string `json:"job_name"`
		StaticConfigs []struct {
			Targets []string          `json:"targets"`
			Labels  map[string]string `json:"labels"`
		} `json:"static_configs"`
	} `json:"scrape_configs"`
}

func readPrometheusConfig(t *testing.T) promConfig {
	t.Helper()
	var cfg promConfig
	readYAML(t, filepath.Join(deployDir, "observability", "prometheus.yml"), &cfg)
	return cfg
}
