package preflight

import (
	"net/url"
	"strings"
	"testing"
)

// Addresses from flags: parsing never panics, a parsed address always has a host and port, and
// redact never prints the password it hides.
func FuzzServiceAddress(f *testing.F) {
	for _, s := range []string{"nats://nats:4222", "nats://user:p4ss@host:4222", "tls://tok3n@host", "127.0.0.1:4222", "http://[::1]:2379",
		"nats://", "://x", "nats://a:b@c:d@e", "%zz", "nats://host:99999", "host"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if u, err := parseServiceURL(s, "nats", "4222"); err == nil {
			if u.Hostname() == "" && u.Port() == "" {
				t.Errorf("%q parsed without a host", s)
			}
		}
		red := redact(s)
		if u, err := url.Parse(s); err == nil && u.User != nil {
			if pass, ok := u.User.Password(); ok && len(pass) >= 4 && !strings.Contains(u.Host, pass) && !strings.Contains(u.Scheme, pass) && strings.Contains(red, pass) {
				t.Errorf("redact(%q) = %q shows the password", s, red)
			}
		}
	})
}
