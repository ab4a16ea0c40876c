package simnode

import (
	"fmt"
	"strconv"
	"strings"
)

// MaxNodesPerKind bounds one profile entry; MaxNodes bounds a whole profile. The simulated nodes
// cost the API server little, but a typo such as h100=10000 should not start a long wait.
const (
	MaxNodesPerKind = 200
	MaxNodes        = 1000
)

// DefaultProfile is the profile `dynamoctl dev cluster up` uses without --profile.
const DefaultProfile = "h100=2,a100-mig=1,l4=1,cpu=1"

// ProfileEntry asks for Count nodes of one kind.
type ProfileEntry struct {
	Kind  string
	Count int
}

// Profile is a parsed node profile such as "h100=4,a100-mig=2,cpu=2", in the order written.
type Profile []ProfileEntry

// String formats the profile in the syntax ParseProfile reads.
func (p Profile) String() string {
	parts := make([]string, len(p))
	for i, e := range p {
		parts[i] = e.Kind + "=" + strconv.Itoa(e.Count)
	}
	return strings.Join(parts, ",")
}

// Total is the number of nodes the profile asks for.
func (p Profile) Total() int {
	n := 0
	for _, e := range p {
		n += e.Count
	}
	return n
}

// ParseProfile reads a comma-separated list of KIND=COUNT (COUNT defaults to 1 when "=COUNT" is
// left out). Kinds must be built-in and appear once; counts are 1..MaxNodesPerKind.
func ParseProfile(s string) (Profile, error) {
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("empty node profile: give KIND=COUNT pairs such as %q (kinds: %s)", DefaultProfile, strings.Join(NodeKindNames(), ", "))
	}
	var p Profile
	seen := map[string]bool{}
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			return nil, fmt.Errorf("node profile %q has an empty entry: remove the extra comma", s)
		}
		kind, countText, hasCount := strings.Cut(item, "=")
		kind = strings.ToLower(strings.TrimSpace(kind))
		if _, ok := LookupNodeKind(kind); !ok {
			return nil, fmt.Errorf("unknown node kind %q in profile: use one of %s", kind, strings.Join(NodeKindNames(), ", "))
		}
		if seen[kind] {
			return nil, fmt.Errorf("node kind %q appears twice in profile: give its total once", kind)
		}
		seen[kind] = true
		count := 1
		if hasCount {
			n, err := strconv.Atoi(strings.TrimSpace(countText))
			if err != nil || n < 1 || n > MaxNodesPerKind {
				return nil, fmt.Errorf("bad count %q for node kind %q: want a whole number from 1 to %d", countText, kind, MaxNodesPerKind)
			}
			count = n
		}
		p = append(p, ProfileEntry{Kind: kind, Count: count})
	}
	if t := p.Total(); t > MaxNodes {
		return nil, fmt.Errorf("node profile asks for %d nodes: at most %d are allowed", t, MaxNodes)
	}
	return p, nil
}
