package storage

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// PodRecord is a small file on the user's machine listing the access pods this user created,
// by UID, until their TTL ends. It is what makes reuse safe: a pod's labels, name and
// annotations can be copied by anyone who may create pods in the namespace, its UID is given
// by the API server.
type PodRecord struct {
	// Path is the JSON file; its directory is created on the first Add.
	Path string
	// Now is the clock (time.Now when nil).
	Now func() time.Time

	mu sync.Mutex
}

type recordEntry struct {
	UID     types.UID `json:"uid"`
	Expires time.Time `json:"expires"`
}

// DefaultRecordPath is $XDG_STATE_HOME/dynamo-infra/access-pods.json, or
// ~/.local/state/dynamo-infra/access-pods.json.
func DefaultRecordPath() string {
	dir := os.Getenv("XDG_STATE_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		dir = filepath.Join(home, ".local", "state")
	}
	return filepath.Join(dir, "dynamo-infra", "access-pods.json")
}

func (r *PodRecord) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// Has reports whether uid was recorded and has not expired. A nil record has nothing.
func (r *PodRecord) Has(uid types.UID) bool {
	if r == nil || r.Path == "" || uid == "" {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.read() {
		if e.UID == uid && e.Expires.After(r.now()) {
			return true
		}
	}
	return false
}

// Add records uid for ttl and drops expired entries. The file is replaced atomically and only
// its owner may read it.
func (r *PodRecord) Add(uid types.UID, ttl time.Duration) error {
	if r == nil || r.Path == "" {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	kept := []recordEntry{{UID: uid, Expires: now.Add(ttl)}}
	for _, e := range r.read() {
		if e.Expires.After(now) && e.UID != uid {
			kept = append(kept, e)
		}
	}
	b, err := json.Marshal(kept)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(r.Path), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(r.Path), ".access-pods-*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(b)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), r.Path)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
	}
	return err
}

// read returns the entries; a missing or unreadable file is an empty record (the worst case
// is a new access pod instead of a reused one).
func (r *PodRecord) read() []recordEntry {
	b, err := os.ReadFile(r.Path)
	if err != nil {
		return nil
	}
	var entries []recordEntry
	if json.Unmarshal(b, &entries) != nil {
		return nil
	}
	return entries
}
