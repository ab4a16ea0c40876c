package e2e

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/dynamo-infra/dynamo-infra/internal/devcluster/devclustertest"
)

// dynamoctl dev services through the binary: up prints the addresses, status reports both
// healthy, a JetStream message and an etcd key survive down and up, down twice is exit 3.
func TestDevServices(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "services")
	ports := []string{"--nats-port", strconv.Itoa(devclustertest.FreePort(t)), "--nats-monitor-port", strconv.Itoa(devclustertest.FreePort(t)),
		"--nats-metrics-port", strconv.Itoa(devclustertest.FreePort(t)),
		"--etcd-port", strconv.Itoa(devclustertest.FreePort(t)), "--etcd-peer-port", strconv.Itoa(devclustertest.FreePort(t))}
	up := func() (natsURL, etcdURL string) {
		t.Helper()
		r := runCLI(t, 2*time.Minute, append([]string{"dev", "services", "up", "--dir", dir}, ports...)...)
		if r.code != 0 {
			t.Fatalf("up: exit %d: %s", r.code, r.stderr)
		}
		env := servicesEnv(r.stdout)
		natsURL, etcdURL = env["NATS_SERVER"], env["ETCD_ENDPOINTS"]
		if natsURL == "" || etcdURL == "" {
			t.Fatalf("up printed %q", r.stdout)
		}
		return natsURL, etcdURL
	}
	t.Cleanup(func() { runCLI(t, time.Minute, "dev", "services", "down", "--dir", dir) })
	natsURL, etcdURL := up()

	r := runCLI(t, time.Minute, "dev", "services", "status", "--dir", dir, "-o", "json")
	var st struct {
		Health []struct {
			Name    string `json:"name"`
			Healthy bool   `json:"healthy"`
		} `json:"health"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil || len(st.Health) != 3 {
		t.Errorf("status: %v %s", err, r.stdout)
	}
	for i, want := range []string{"nats", "nats-metrics", "etcd"} {
		if i >= len(st.Health) || st.Health[i].Name != want || !st.Health[i].Healthy {
			t.Errorf("status: want %s healthy at %d: %s", want, i, r.stdout)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	nc, err := nats.Connect(natsURL, nats.Timeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	js, _ := jetstream.New(nc)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "EVENTS", Subjects: []string{"events.>"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "events.a", []byte("kept")); err != nil {
		t.Fatal(err)
	}
	nc.Close()
	ec, err := clientv3.New(clientv3.Config{Endpoints: []string{etcdURL}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ec.Put(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	_ = ec.Close()

	if r := runCLI(t, time.Minute, "dev", "services", "down", "--dir", dir); r.code != 0 {
		t.Fatalf("down: %s", r.stderr)
	}
	if r := runCLI(t, time.Minute, "dev", "services", "status", "--dir", dir); r.code != 3 {
		t.Errorf("status after down: exit %d", r.code)
	}
	if r := runCLI(t, time.Minute, "dev", "services", "down", "--dir", dir); r.code != 3 {
		t.Errorf("second down: exit %d", r.code)
	}

	natsURL, etcdURL = up()
	nc, err = nats.Connect(natsURL, nats.Timeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ = jetstream.New(nc)
	stream, err := js.Stream(ctx, "EVENTS")
	if err != nil {
		t.Fatal(err)
	}
	if m, err := stream.GetLastMsgForSubject(ctx, "events.a"); err != nil || string(m.Data) != "kept" {
		t.Errorf("JetStream message after down/up: %v %v", m, err)
	}
	ec, err = clientv3.New(clientv3.Config{Endpoints: []string{etcdURL}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ec.Close() }()
	if got, err := ec.Get(ctx, "k"); err != nil || len(got.Kvs) != 1 || string(got.Kvs[0].Value) != "v" {
		t.Errorf("etcd key after down/up: %v %v", got, err)
	}
}

// servicesEnv reads the `export NATS_SERVER=… ETCD_ENDPOINTS=…` line `dev services up` prints.
func servicesEnv(stdout string) map[string]string {
	env := map[string]string{}
	for _, f := range strings.Fields(strings.TrimPrefix(strings.TrimSpace(stdout), "export ")) {
		k, v, _ := strings.Cut(f, "=")
		env[k] = v
	}
	return env
}
