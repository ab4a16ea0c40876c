package graph

import (
	"errors"
	"fmt"
	"strings"

	"github.com/dynamo-infra/dynamo-infra/internal/topology"
)

// HasTopology reports whether the graph asks for topology placement at all.
func (g *Graph) HasTopology() bool {
	if g.Topology != nil {
		return true
	}
	for _, c := range g.Components {
		if c.service != nil && c.service.TopologyConstraint != nil {
			return true
		}
	}
	return false
}

// TopologyProfile is the profile the graph names ("" when it names none).
func (g *Graph) TopologyProfile() string {
	if g.Topology == nil {
		return ""
	}
	return g.Topology.TopologyProfile
}

// Scopes resolves the graph's constraints against a profile (zero: the built-in levels), the
// graph's scope first, then the components' in name order: the one answer render, plan and the
// operator's verification share. As upstream: a component's constraint needs
// spec.topologyConstraint (it names the profile); spec's packDomain packs the whole graph; a
// component's packs that component — for a multi-node one, each replica's group of nodes, as
// Grove packs each replica of a scaling group. Every domain must be a level of the profile.
func (g *Graph) Scopes(p topology.Profile) ([]topology.Scope, error) {
	if !g.HasTopology() {
		return nil, nil
	}
	if p.Levels == nil {
		p = topology.Profile{Name: g.TopologyProfile(), Levels: topology.BuiltInLevels, BuiltIn: true}
	}
	spec := g.Topology
	if spec == nil {
		return nil, errors.New("a service's topologyConstraint needs spec.topologyConstraint.topologyProfile (the profile it takes its domains from)")
	}
	key := func(where, domain string) (string, error) {
		k, ok := p.Key(domain)
		if !ok {
			var names []string
			for _, l := range p.Levels {
				names = append(names, l.Domain)
			}
			return "", fmt.Errorf("%s.packDomain %q is not a level of topology profile %q (levels: %s)", where, domain, p.Name, strings.Join(names, ", "))
		}
		return k, nil
	}
	var out []topology.Scope
	if spec.PackDomain != "" {
		k, err := key("spec.topologyConstraint", spec.PackDomain)
		if err != nil {
			return nil, err
		}
		out = append(out, topology.Scope{Domain: spec.PackDomain, Key: k})
	}
	for _, c := range g.Components {
		if c.service == nil || c.service.TopologyConstraint == nil {
			continue
		}
		k, err := key("spec.services."+c.Name+".topologyConstraint", c.PackDomain)
		if err != nil {
			return nil, err
		}
		out = append(out, topology.Scope{Service: c.Name, Domain: c.PackDomain, Key: k, PerGroup: c.Multinode()})
	}
	return out, nil
}
