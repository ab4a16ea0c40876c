package preflight

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/dynamo-infra/dynamo-infra/internal/kube"
	"github.com/dynamo-infra/dynamo-infra/internal/version"
)

// NATSInfo is the part of a NATS server's INFO message the check reports.
type NATSInfo struct {
	ServerID     string `json:"server_id"`
	Version      string `json:"version"`
	JetStream    bool   `json:"jetstream"`
	AuthRequired bool   `json:"auth_required"`
	TLSRequired  bool   `json:"tls_required"`
	MaxPayload   int64  `json:"max_payload"`
}

// NATSHandshake speaks the NATS client protocol to addr (nats://[user:pass@]host:port,
// tls://…, or host:port): read INFO, upgrade to TLS when the server asks, send CONNECT and
// PING, and wait for PONG. Any -ERR (such as an authorization violation) is returned.
func NATSHandshake(ctx context.Context, addr string) (NATSInfo, error) {
	u, err := parseServiceURL(addr, "nats", "4222")
	if err != nil {
		return NATSInfo{}, err
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return NATSInfo{}, err
	}
	defer func() { _ = conn.Close() }()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	r := bufio.NewReader(conn)
	line, err := r.ReadString('\n')
	if err != nil {
		return NATSInfo{}, fmt.Errorf("read INFO: %w", err)
	}
	payload, ok := strings.CutPrefix(strings.TrimSpace(line), "INFO ")
	if !ok {
		return NATSInfo{}, fmt.Errorf("not a NATS server: it sent %q", truncate(line, 40))
	}
	var info NATSInfo
	if err := json.Unmarshal([]byte(payload), &info); err != nil {
		return NATSInfo{}, fmt.Errorf("unreadable INFO: %w", err)
	}
	var rw net.Conn
	rw = conn
	if info.TLSRequired || u.Scheme == "tls" {
		tc := tls.Client(conn, &tls.Config{ServerName: u.Hostname(), MinVersion: tls.VersionTLS12})
		if err := tc.HandshakeContext(ctx); err != nil {
			return info, fmt.Errorf("TLS handshake: %w", err)
		}
		rw, r = tc, bufio.NewReader(tc)
	}
	connect := map[string]any{"verbose": false, "pedantic": false, "lang": "go", "name": "dynamoctl-preflight",
		"version": version.Get().Version, "protocol": 1}
	if u.User != nil {
		if pass, ok := u.User.Password(); ok {
			connect["user"], connect["pass"] = u.User.Username(), pass
		} else {
			connect["auth_token"] = u.User.Username()
		}
	}
	msg, _ := json.Marshal(connect)
	if _, err := fmt.Fprintf(rw, "CONNECT %s\r\nPING\r\n", msg); err != nil {
		return info, fmt.Errorf("send CONNECT: %w", err)
	}
	for range 8 {
		line, err := r.ReadString('\n')
		if err != nil {
			return info, fmt.Errorf("wait for PONG: %w", err)
		}
		switch l := strings.TrimSpace(line); {
		case l == "PONG":
			return info, nil
		case strings.HasPrefix(l, "-ERR"):
			return info, errors.New(strings.Trim(strings.TrimSpace(strings.TrimPrefix(l, "-ERR")), "'"))
		case l == "PING":
			_, _ = fmt.Fprint(rw, "PONG\r\n")
		}
	}
	return info, errors.New("no PONG after CONNECT")
}

func checkNATS(ctx context.Context, e *Env) Outcome {
	var details []string
	for _, addr := range splitList(e.NATS) {
		info, err := NATSHandshake(ctx, addr)
		if err != nil {
			out := Outcome{Status: Fail, Detail: fmt.Sprintf("%s: %v", redact(addr), kube.OneLine(err)),
				Remediation: "start NATS (dynamoctl dev services up, or deploy/docker-compose.yml) and check the address", DocsURL: docsBase + "nats"}
			if info.AuthRequired {
				out.Remediation = "the server requires credentials: nats://USER:PASS@host:4222 or nats://TOKEN@host:4222"
			}
			return out
		}
		if !info.JetStream {
			return Outcome{Status: Warn, Detail: fmt.Sprintf("NATS %s at %s has JetStream off", info.Version, redact(addr)),
				Remediation: "enable JetStream (nats-server -js): Dynamo keeps KV-cache events in JetStream", DocsURL: docsBase + "nats"}
		}
		details = append(details, fmt.Sprintf("NATS %s at %s (JetStream on, max_payload %d)", info.Version, redact(addr), info.MaxPayload))
	}
	return Outcome{Status: Pass, Detail: strings.Join(details, "; ")}
}

// EtcdMember is one etcd member's status as etcd's JSON gateway (/v3/maintenance/status, served
// on the client port since etcd 3.4) reports it: 64-bit numbers come as strings.
type EtcdMember struct {
	Endpoint string   `json:"-"`
	Version  string   `json:"version"`
	DBSize   int64    `json:"dbSize,string"`
	Leader   uint64   `json:"leader,string"`
	Errors   []string `json:"errors"`
	Header   struct {
		MemberID uint64 `json:"member_id,string"`
	} `json:"header"`
}

// EtcdStatus asks each endpoint for its status over etcd's JSON gateway: plain HTTP(S), so the
// command line links no gRPC (what the gateway serves is etcd's gRPC API). Credentials in an
// endpoint's URL are exchanged for a token first (/v3/auth/authenticate).
func EtcdStatus(ctx context.Context, endpoints string) ([]EtcdMember, error) {
	var out []EtcdMember
	for _, ep := range splitList(endpoints) {
		u, err := parseServiceURL(ep, "http", "2379")
		if err != nil {
			return nil, err
		}
		client := &http.Client{Transport: &http.Transport{
			TLSClientConfig: &tls.Config{ServerName: u.Hostname(), MinVersion: tls.VersionTLS12},
			Proxy:           http.ProxyFromEnvironment,
		}}
		user := u.User
		u.User = nil
		base := u.Scheme + "://" + u.Host
		token := ""
		if user != nil {
			password, _ := user.Password()
			var auth struct {
				Token string `json:"token"`
			}
			if err := etcdCall(ctx, client, base+"/v3/auth/authenticate", "", map[string]string{"name": user.Username(), "password": password}, &auth); err != nil {
				return out, fmt.Errorf("%s: authenticate: %w", base, err)
			}
			token = auth.Token
		}
		st := EtcdMember{Endpoint: base}
		if err := etcdCall(ctx, client, base+"/v3/maintenance/status", token, map[string]string{}, &st); err != nil {
			if ctx.Err() != nil {
				return out, fmt.Errorf("%s: no status answer before the check timeout (%w)", base, err)
			}
			return out, fmt.Errorf("%s: %w", base, err)
		}
		out = append(out, st)
	}
	return out, nil
}

// etcdCall POSTs body as JSON to one of etcd's gateway endpoints and decodes the answer into out;
// an error answer ({"code", "message"}) is returned as an error.
func etcdCall(ctx context.Context, client *http.Client, url, token string, body, out any) error {
	raw, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(raw))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(data, &e) == nil && e.Message != "" {
			return fmt.Errorf("%s (HTTP %d)", e.Message, resp.StatusCode)
		}
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(data)))
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("not an etcd status answer: %w", err)
	}
	return nil
}

func checkEtcd(ctx context.Context, e *Env) Outcome {
	sts, err := EtcdStatus(ctx, e.Etcd)
	if err != nil {
		return Outcome{Status: Fail, Detail: kube.OneLine(err),
			Remediation: "start etcd (dynamoctl dev services up, or deploy/docker-compose.yml) and check the endpoints", DocsURL: docsBase + "etcd"}
	}
	var parts []string
	for _, st := range sts {
		if len(st.Errors) > 0 {
			return Outcome{Status: Warn, Detail: fmt.Sprintf("etcd %s reports: %s", st.Version, strings.Join(st.Errors, "; ")), Remediation: "etcdctl alarm list"}
		}
		parts = append(parts, fmt.Sprintf("etcd %s (member %x, leader %x, db %d KiB)", st.Version, st.Header.MemberID, st.Leader, st.DBSize/1024))
	}
	return Outcome{Status: Pass, Detail: strings.Join(parts, "; ")}
}

// parseServiceURL reads scheme://[user[:pass]@]host[:port] or host[:port].
func parseServiceURL(s, scheme, port string) (*url.URL, error) {
	if !strings.Contains(s, "://") {
		s = scheme + "://" + s
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("address %q: want %s://host:port", redact(s), scheme)
	}
	if u.Port() == "" {
		u.Host = net.JoinHostPort(u.Hostname(), port)
	}
	return u, nil
}

// redact hides the password or token of an address.
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	u.User = nil
	scheme, rest, _ := strings.Cut(u.String(), "://")
	return scheme + "://***@" + rest
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func truncate(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
