package preflight_test

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"

	"github.com/dynamo-infra/dynamo-infra/internal/devcluster/devclustertest"
	"github.com/dynamo-infra/dynamo-infra/internal/preflight"
)

// startNATS runs a real NATS server in the test process until the test ends.
func startNATS(t *testing.T, jetstream bool, token string) string {
	t.Helper()
	opts := &natsserver.Options{Host: "127.0.0.1", Port: devclustertest.FreePort(t), JetStream: jetstream, StoreDir: t.TempDir(), NoLog: true, NoSigs: true, Authorization: token}
	s, err := natsserver.NewServer(opts)
	must(t, err)
	go s.Start()
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS not ready")
	}
	return fmt.Sprintf("nats://127.0.0.1:%d", opts.Port)
}

func serviceCheck(t *testing.T, id string, mutate func(*preflight.Env)) preflight.Result {
	t.Helper()
	env, err := preflight.NewEnv(nil)
	must(t, err)
	mutate(env)
	var checks []preflight.Check
	for _, c := range preflight.Registry() {
		if c.ID == id {
			checks = append(checks, c)
		}
	}
	rep := preflight.Run(context.Background(), env, checks, preflight.RunOptions{CheckTimeout: 5 * time.Second})
	return rep.Checks[0]
}

func TestNATSCheck(t *testing.T) {
	js := startNATS(t, true, "")
	plain := startNATS(t, false, "")
	locked := startNATS(t, true, "s3cret")
	lockedURL, _ := url.Parse(locked)
	lockedURL.User = url.User("s3cret")
	nats := func(addr string) func(*preflight.Env) { return func(e *preflight.Env) { e.NATS = addr } }

	expect(t, serviceCheck(t, "nats", nats(js)), preflight.Pass, "JetStream on", js)
	expect(t, serviceCheck(t, "nats", nats(plain)), preflight.Warn, "JetStream off", "nats-server -js")
	expect(t, serviceCheck(t, "nats", nats(locked)), preflight.Fail, "Authorization Violation", "requires credentials")
	r := serviceCheck(t, "nats", nats(lockedURL.String()))
	expect(t, r, preflight.Pass, "JetStream on", "nats://***@")
	expect(t, serviceCheck(t, "nats", nats(fmt.Sprintf("127.0.0.1:%d", devclustertest.FreePort(t)))), preflight.Fail, "connection refused")
	// Something that is not NATS: an HTTP-speaking etcd port answers nothing first; a TCP
	// listener that never writes runs into the check timeout's deadline.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer l.Close()
	start := time.Now()
	expect(t, serviceCheck(t, "nats", nats(l.Addr().String())), preflight.Fail, "read INFO")
	if time.Since(start) > 10*time.Second {
		t.Errorf("silent server held the check for %s", time.Since(start))
	}
}

func TestEtcdCheck(t *testing.T) {
	cfg := embed.NewConfig()
	cfg.Dir = t.TempDir()
	cfg.LogLevel = "fatal" // closing the server logs expected errors
	client, peer := fmt.Sprintf("http://127.0.0.1:%d", devclustertest.FreePort(t)), fmt.Sprintf("http://127.0.0.1:%d", devclustertest.FreePort(t))
	cu, _ := url.Parse(client)
	pu, _ := url.Parse(peer)
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*cu}, []url.URL{*cu}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*pu}, []url.URL{*pu}
	cfg.InitialCluster = cfg.Name + "=" + peer
	e, err := embed.StartEtcd(cfg)
	must(t, err)
	t.Cleanup(func() { e.Close() })
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(30 * time.Second):
		t.Fatal("etcd not ready")
	}
	etcd := func(addr string) func(*preflight.Env) { return func(e *preflight.Env) { e.Etcd = addr } }
	expect(t, serviceCheck(t, "etcd", etcd(client)), preflight.Pass, "etcd 3.6", "leader")
	start := time.Now()
	expect(t, serviceCheck(t, "etcd", etcd(fmt.Sprintf("http://127.0.0.1:%d", devclustertest.FreePort(t)))), preflight.Fail)
	if time.Since(start) > 10*time.Second {
		t.Errorf("unreachable etcd held the check for %s", time.Since(start))
	}
	// The status through the gateway's own numbers: the member the server says it is.
	if got, want := serviceCheck(t, "etcd", etcd(client)).Detail, fmt.Sprintf("member %x", uint64(e.Server.MemberID())); !strings.Contains(got, want) {
		t.Errorf("detail %q does not name %s", got, want)
	}
	// With authentication on, credentials in the URL are exchanged for a token; wrong ones fail.
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{client}, DialTimeout: 10 * time.Second, Logger: zap.NewNop()})
	must(t, err)
	defer func() { _ = c.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err = c.UserAdd(ctx, "root", "s3cret")
	must(t, err)
	_, err = c.UserGrantRole(ctx, "root", "root")
	must(t, err)
	_, err = c.AuthEnable(ctx)
	must(t, err)
	withAuth := strings.Replace(client, "http://", "http://root:s3cret@", 1)
	expect(t, serviceCheck(t, "etcd", etcd(withAuth)), preflight.Pass, "etcd 3.6", "leader")
	expect(t, serviceCheck(t, "etcd", etcd(strings.Replace(client, "http://", "http://root:wrong@", 1))), preflight.Fail, "authenticate", "authentication failed")
	expect(t, serviceCheck(t, "etcd", etcd(client)), preflight.Fail, "user name is empty")
}
