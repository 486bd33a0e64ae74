package rbac

import (
	"context"
	"log/slog"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
	"github.com/sparkcm-hook/sparkcm-hook/hook/kube"
)

// ResourceArg is a resource as a user names it: RESOURCE[.GROUP][/SUBRESOURCE]
// (configmaps, pods/exec, deployments.apps, sparkapplications.sparkoperator.k8s.io).
type ResourceArg struct {
	Group, Resource, Subresource string
	// GroupGiven is set when the argument named the group.
	GroupGiven bool
	// Namespaced is what discovery says; true when unknown.
	Namespaced bool
}

// ParseResource splits a resource argument without asking the server.
func ParseResource(arg string) (ResourceArg, error) {
	var r ResourceArg
	main, sub, hasSub := strings.Cut(arg, "/")
	if hasSub && (sub == "" || strings.Contains(sub, "/")) {
		return r, hook.Usagef("resource %q: want RESOURCE[.GROUP][/SUBRESOURCE]", arg)
	}
	res, group, hasGroup := strings.Cut(main, ".")
	if res == "" || (hasGroup && group == "") {
		return r, hook.Usagef("resource %q: want RESOURCE[.GROUP][/SUBRESOURCE]", arg)
	}
	for _, s := range []string{res, sub} {
		if s != "*" && strings.ToLower(s) != s {
			return r, hook.Usagef("resource %q: resources are lower-case plurals, as in RBAC rules (configmaps, pods/exec)", arg)
		}
	}
	return ResourceArg{Group: group, Resource: res, Subresource: sub, GroupGiven: hasGroup, Namespaced: true}, nil
}

// Resolve completes the argument from discovery: the group of a resource
// named without one (core first), the plural of a singular or short name,
// and whether it is namespaced. Without discovery it is taken as written.
func (r ResourceArg) Resolve(ctx context.Context, d kube.DiscoveryInterface, log *slog.Logger) ResourceArg {
	if r.Resource == "*" {
		return r
	}
	_, lists, err := kube.GroupsAndResources(ctx, d)
	if err != nil && len(lists) == 0 {
		log.Warn("could not read API discovery; taking the resource as written", "err", err)
		return r
	}
	type hit struct {
		group, plural string
		namespaced    bool
	}
	var hits []hit
	for _, l := range lists {
		gv, perr := schema.ParseGroupVersion(l.GroupVersion)
		if perr != nil || (r.GroupGiven && gv.Group != r.Group) {
			continue
		}
		for _, ar := range l.APIResources {
			if strings.Contains(ar.Name, "/") || !names(ar).has(r.Resource) {
				continue
			}
			hits = append(hits, hit{gv.Group, ar.Name, ar.Namespaced})
		}
	}
	if len(hits) == 0 {
		log.Warn("the API server does not serve this resource; answering from the rules as written", "resource", r.Resource, "group", r.Group)
		return r
	}
	best := hits[0]
	for _, h := range hits {
		if h.group == "" { // the core group wins, as in kubectl
			best = h
			break
		}
	}
	r.Group, r.Resource, r.Namespaced = best.group, best.plural, best.namespaced
	return r
}

type nameSet []string

func (n nameSet) has(s string) bool {
	for _, x := range n {
		if x == s {
			return true
		}
	}
	return false
}

func names(ar metav1.APIResource) nameSet {
	return append(nameSet{ar.Name, ar.SingularName}, ar.ShortNames...)
}
