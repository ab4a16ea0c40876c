package deploy

import (
	"context"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"sigs.k8s.io/yaml"
)

const grafanaPasswordVar = "GRAFANA_ADMIN_PASSWORD"

// loadCompose loads a compose file under deploy/ with compose-go, with env as the only
// environment and profiles enabled.
func loadCompose(t *testing.T, file string, env []string, profiles ...string) (*types.Project, error) {
	t.Helper()
	opts, err := cli.NewProjectOptions([]string{filepath.Join(deployDir, file)}, cli.WithWorkingDirectory(deployDir),
		cli.WithEnv(env), cli.WithProfiles(profiles))
	if err != nil {
		t.Fatal(err)
	}
	return opts.LoadProject(context.Background())
}

func serviceNames(p *types.Project) []string {
	var names []string
	for name := range p.Services {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// Grafana's admin password comes from the environment and has no default: without it compose
// refuses the file and says which variable to set.
func TestObservabilityComposeNeedsGrafanaPassword(t *testing.T) {
	t.Setenv(grafanaPasswordVar, "")
	_, err := loadCompose(t, "docker-observability.yml", nil)
	if err == nil || !strings.Contains(err.Error(), grafanaPasswordVar) {
		t.Fatalf("loading without %s: err = %v, want an error naming it", grafanaPasswordVar, err)
	}
	p, err := loadCompose(t, "docker-observability.yml", []string{grafanaPasswordVar + "=s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	env := p.Services["grafana"].Environment
	if pw := env["GF_SECURITY_ADMIN_PASSWORD"]; pw == nil || *pw != "s3cret" {
		t.Errorf("GF_SECURITY_ADMIN_PASSWORD = %v, want the variable's value", pw)
	}
	if a := env["GF_AUTH_ANONYMOUS_ENABLED"]; a == nil || *a != "false" {
		t.Errorf("anonymous access: %v", a)
	}
}

// Every service: a pinned image, published ports and a health check that can run in its image;
// the GPU exporter only with the nvidia profile; mounted files exist; the shared network.
func TestObservabilityCompose(t *testing.T) {
	env := []string{grafanaPasswordVar + "=x"}
	plain, err := loadCompose(t, "docker-observability.yml", env)
	if err != nil {
		t.Fatalf("compose-go refuses the file: %v", err)
	}
	want := []string{"grafana", "nats-exporter", "otel-collector", "prometheus", "tempo"}
	if got := serviceNames(plain); !slices.Equal(got, want) {
		t.Errorf("services without a profile: %v, want %v", got, want)
	}
	p, err := loadCompose(t, "docker-observability.yml", env, "nvidia")
	if err != nil {
		t.Fatal(err)
	}
	if got := serviceNames(p); !slices.Equal(got, slices.Sorted(slices.Values(append([]string{"dcgm-exporter"}, want...)))) {
		t.Errorf("services with profile nvidia: %v", got)
	}
	for name, s := range p.Services {
		if s.Image == "" || strings.HasSuffix(s.Image, ":latest") || !strings.Contains(s.Image, ":") {
			t.Errorf("%s: image %q (want a pinned tag)", name, s.Image)
		}
		if len(s.Ports) == 0 {
			t.Errorf("%s: no ports", name)
		}
		hc := s.HealthCheck
		if hc == nil || hc.Disable || len(hc.Test) < 2 {
			t.Errorf("%s: no health check", name)
			continue
		}
		// A probe runs inside the image: a FROM scratch upstream has no wget, so such services
		// are rebuilt on busybox from the pinned upstream image.
		if s.Build != nil {
			inline := s.Build.DockerfileInline
			if !strings.Contains(inline, "FROM busybox:") || strings.Contains(inline, ":latest") {
				t.Errorf("%s: inline build %q should copy the pinned upstream binary onto a pinned busybox", name, inline)
			}
			if s.PullPolicy != types.PullPolicyBuild {
				t.Errorf("%s: pull_policy %q: a locally built image must not be pulled", name, s.PullPolicy)
			}
			if tag := s.Image[strings.LastIndex(s.Image, ":")+1:]; !strings.Contains(inline, ":"+tag+" AS upstream") {
				t.Errorf("%s: image tag %s differs from the upstream tag built from", name, s.Image)
			}
		}
		if hc.Test[0] == "CMD" && hc.Test[1] == "wget" {
			u, err := url.Parse(hc.Test[len(hc.Test)-1])
			if err != nil || u.Hostname() != "127.0.0.1" {
				t.Errorf("%s: health check URL %q", name, hc.Test[len(hc.Test)-1])
			}
		}
		for _, v := range s.Volumes {
			if v.Type != types.VolumeTypeBind {
				continue
			}
			if _, err := os.Stat(v.Source); err != nil {
				t.Errorf("%s mounts %s: %v", name, v.Source, err)
			}
		}
	}
	if dcgm := p.Services["dcgm-exporter"]; !slices.Equal(dcgm.Profiles, []string{"nvidia"}) || dcgm.Deploy == nil ||
		len(dcgm.Deploy.Resources.Reservations.Devices) == 0 || dcgm.Deploy.Resources.Reservations.Devices[0].Driver != "nvidia" {
		t.Errorf("dcgm-exporter: profiles %v, GPU reservation %+v", dcgm.Profiles, dcgm.Deploy)
	}
	if _, ok := p.Services["prometheus"].ExtraHosts["host.docker.internal"]; !ok {
		t.Error("prometheus: host.docker.internal is not mapped (static host targets would not resolve on Linux)")
	}
	if n := p.Networks["default"]; n.Name != "dynamo" || !bool(n.External) {
		t.Errorf("default network: %+v, want the external network dynamo of docker-compose.yml", n)
	}
}

// Each target of prometheus.yml is a service of one of the compose files on a port it listens
// on, or a host process reached through host.docker.internal.
func TestPrometheusTargetsExist(t *testing.T) {
	base, err := loadCompose(t, "docker-compose.yml", nil)
	if err != nil {
		t.Fatal(err)
	}
	obs, err := loadCompose(t, "docker-observability.yml", []string{grafanaPasswordVar + "=x"}, "nvidia")
	if err != nil {
		t.Fatal(err)
	}
	ports := map[string][]string{} // service → container ports
	for _, p := range []*types.Project{base, obs} {
		for name, s := range p.Services {
			for _, port := range s.Ports {
				ports[name] = append(ports[name], strconv.Itoa(int(port.Target)))
			}
		}
	}
	cfg := readPrometheusConfig(t)
	for _, j := range cfg.ScrapeConfigs {
		for _, sc := range j.StaticConfigs {
			for _, target := range sc.Targets {
				host, port, err := net.SplitHostPort(target)
				if err != nil {
					t.Errorf("%s: target %q: %v", j.JobName, target, err)
					continue
				}
				if host == "host.docker.internal" {
					if port == "9090" {
						t.Errorf("%s: host port 9090 is Prometheus's own", j.JobName)
					}
					continue
				}
				if !slices.Contains(ports[host], port) {
					t.Errorf("%s: target %s: no compose service %s listening on %s (services: %v)", j.JobName, target, host, port, ports)
				}
			}
		}
	}
}

// The collector's configuration, read as data (the collector is not built here): every pipeline
// names defined components, it receives on the ports the compose file publishes, forwards to
// Tempo where Tempo receives OTLP, and its health endpoint is the one the health check probes.
func TestOTELCollectorConfig(t *testing.T) {
	var cfg struct {
		Extensions map[string]struct {
			Endpoint string `json:"endpoint"`
		} `json:"extensions"`
		Receivers map[string]struct {
			Protocols map[string]struct {
				Endpoint string `json:"endpoint"`
			} `json:"protocols"`
		} `json:"receivers"`
		Processors map[string]any `json:"processors"`
		Exporters  map[string]struct {
			Endpoint string `json:"endpoint"`
		} `json:"exporters"`
		Service struct {
			Extensions []string `json:"extensions"`
			Pipelines  map[string]struct {
				Receivers, Processors, Exporters []string
			} `json:"pipelines"`
		} `json:"service"`
	}
	readYAML(t, filepath.Join(deployDir, "observability", "otel-collector.yaml"), &cfg)
	p, err := loadCompose(t, "docker-observability.yml", []string{grafanaPasswordVar + "=x"})
	if err != nil {
		t.Fatal(err)
	}
	svc := p.Services["otel-collector"]
	published := map[string]bool{}
	for _, port := range svc.Ports {
		published[strconv.Itoa(int(port.Target))] = true
	}
	traces, ok := cfg.Service.Pipelines["traces"]
	if !ok {
		t.Fatal("no traces pipeline")
	}
	for _, r := range traces.Receivers {
		rc, ok := cfg.Receivers[r]
		if !ok {
			t.Errorf("pipeline receiver %s is not defined", r)
		}
		for proto, pc := range rc.Protocols {
			if _, port, _ := net.SplitHostPort(pc.Endpoint); !published[port] {
				t.Errorf("receiver %s/%s listens on %s, not published by the compose service", r, proto, pc.Endpoint)
			}
		}
	}
	for _, pr := range traces.Processors {
		if _, ok := cfg.Processors[pr]; !ok {
			t.Errorf("pipeline processor %s is not defined", pr)
		}
	}
	if len(traces.Exporters) == 0 {
		t.Fatal("the traces pipeline exports nowhere")
	}
	var tempo struct {
		Distributor struct {
			Receivers struct {
				OTLP struct {
					Protocols map[string]struct {
						Endpoint string `json:"endpoint"`
					} `json:"protocols"`
				} `json:"otlp"`
			} `json:"receivers"`
		} `json:"distributor"`
	}
	readYAML(t, filepath.Join(deployDir, "observability", "tempo.yaml"), &tempo)
	_, tempoGRPC, _ := net.SplitHostPort(tempo.Distributor.Receivers.OTLP.Protocols["grpc"].Endpoint)
	for _, e := range traces.Exporters {
		ec, ok := cfg.Exporters[e]
		if !ok {
			t.Errorf("pipeline exporter %s is not defined", e)
			continue
		}
		if host, port, _ := net.SplitHostPort(ec.Endpoint); host != "tempo" || port != tempoGRPC {
			t.Errorf("exporter %s sends to %s, want tempo:%s (tempo.yaml's OTLP gRPC receiver)", e, ec.Endpoint, tempoGRPC)
		}
	}
	if _, ok := p.Services["tempo"]; !ok {
		t.Error("no tempo service to export to")
	}
	for _, ext := range cfg.Service.Extensions {
		if _, ok := cfg.Extensions[ext]; !ok {
			t.Errorf("extension %s is not defined", ext)
		}
	}
	_, healthPort, _ := net.SplitHostPort(cfg.Extensions["health_check"].Endpoint)
	probe, _ := url.Parse(svc.HealthCheck.Test[len(svc.HealthCheck.Test)-1])
	if healthPort == "" || probe == nil || probe.Port() != healthPort {
		t.Errorf("health check probes %v, the health_check extension listens on %q", probe, cfg.Extensions["health_check"].Endpoint)
	}
}

// Grafana provisions the dashboards directory the compose file mounts, and both datasources.
func TestGrafanaProvisioning(t *testing.T) {
	var providers struct {
		Providers []struct {
			Type    string `json:"type"`
			Options struct {
				Path string `json:"path"`
			} `json:"options"`
		} `json:"providers"`
	}
	readYAML(t, filepath.Join(deployDir, "observability", "grafana-dashboards.yml"), &providers)
	p, err := loadCompose(t, "docker-observability.yml", []string{grafanaPasswordVar + "=x"})
	if err != nil {
		t.Fatal(err)
	}
	mounts := map[string]string{} // target → source
	for _, v := range p.Services["grafana"].Volumes {
		mounts[v.Target] = v.Source
	}
	if len(providers.Providers) != 1 || providers.Providers[0].Type != "file" {
		t.Fatalf("providers: %+v", providers)
	}
	src, ok := mounts[providers.Providers[0].Options.Path]
	if !ok {
		t.Fatalf("the dashboard provider reads %s, which grafana does not mount (%v)", providers.Providers[0].Options.Path, mounts)
	}
	if dashboards, _ := filepath.Glob(filepath.Join(src, "*.json")); len(dashboards) < 2 {
		t.Errorf("%s holds %d dashboards", src, len(dashboards))
	}
	for _, f := range []string{"grafana-datasources.yml", "tempo-datasource.yml", "grafana-dashboards.yml"} {
		found := false
		for _, source := range mounts {
			found = found || filepath.Base(source) == f
		}
		if !found {
			t.Errorf("grafana does not mount %s", f)
		}
	}
}

func readYAML(t *testing.T, path string, into any) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, into); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
