package kube

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
)

// discoveryClient reads the unaggregated discovery documents: /api and
// /apis for the groups, then /api/v1 and /apis/GROUP/VERSION for the
// resources of each version, all versions at once. client-go's discovery
// package would do it in two requests (aggregated discovery), but it
// imports the clientset's scheme, and the tool asks for discovery only to
// resolve a resource name in `rbac who-can`.
type discoveryClient struct {
	rc rest.Interface
}

var _ DiscoveryInterface = (*discoveryClient)(nil)

// RESTClient is the client for paths outside the API groups.
func (d *discoveryClient) RESTClient() rest.Interface { return d.rc }

// GroupDiscoveryFailedError is returned with the resources of the versions
// that could be read when some could not.
type GroupDiscoveryFailedError struct {
	Groups map[schema.GroupVersion]error
}

func (e *GroupDiscoveryFailedError) Error() string {
	var parts []string
	for gv, err := range e.Groups {
		parts = append(parts, fmt.Sprintf("%s: %v", gv, err))
	}
	sort.Strings(parts)
	return "unable to retrieve the complete list of server APIs: " + strings.Join(parts, ", ")
}

// GroupsAndResources is d.ServerGroupsAndResources bounded by ctx. The
// interface has client-go's signature, without a context; this package's
// client honours ctx, and any other implementation (a test's fake) is asked
// as it is.
func GroupsAndResources(ctx context.Context, d DiscoveryInterface) ([]*metav1.APIGroup, []*metav1.APIResourceList, error) {
	if dc, ok := d.(*discoveryClient); ok {
		return dc.groupsAndResources(ctx)
	}
	return d.ServerGroupsAndResources()
}

// Groups is d.ServerGroups bounded by ctx, as GroupsAndResources.
func Groups(ctx context.Context, d DiscoveryInterface) (*metav1.APIGroupList, error) {
	if dc, ok := d.(*discoveryClient); ok {
		return dc.serverGroups(ctx)
	}
	return d.ServerGroups()
}

// ServerGroupsAndResources returns the core group first, then the groups
// in the order /apis lists them, and the resource lists of every version in
// that order. Like client-go's, it has no context: each request is bounded
// by the client's timeout (GroupsAndResources takes one).
func (d *discoveryClient) ServerGroupsAndResources() ([]*metav1.APIGroup, []*metav1.APIResourceList, error) {
	return d.groupsAndResources(context.Background())
}

func (d *discoveryClient) groupsAndResources(ctx context.Context) ([]*metav1.APIGroup, []*metav1.APIResourceList, error) {
	list, err := d.serverGroups(ctx)
	if err != nil {
		return nil, nil, err
	}
	groups := make([]*metav1.APIGroup, 0, len(list.Groups))
	for i := range list.Groups {
		groups = append(groups, &list.Groups[i])
	}

	type fetched struct {
		list *metav1.APIResourceList
		err  error
	}
	var gvs []schema.GroupVersion
	for _, g := range groups {
		for _, v := range g.Versions {
			gvs = append(gvs, schema.GroupVersion{Group: g.Name, Version: v.Version})
		}
	}
	results := make([]fetched, len(gvs))
	var wg sync.WaitGroup
	for i, gv := range gvs {
		wg.Go(func() {
			l, err := d.resources(ctx, gv)
			results[i] = fetched{l, err}
		})
	}
	wg.Wait()
	var lists []*metav1.APIResourceList
	failed := map[schema.GroupVersion]error{}
	for i, r := range results {
		if r.err != nil {
			failed[gvs[i]] = r.err
			continue
		}
		lists = append(lists, r.list)
	}
	if len(failed) > 0 {
		return groups, lists, &GroupDiscoveryFailedError{Groups: failed}
	}
	return groups, lists, nil
}

// ServerGroups returns the core group first, then the groups in the order
// /apis lists them, each with the versions it serves: two requests, which
// is all that telling whether a group is installed, and in which versions,
// takes.
func (d *discoveryClient) ServerGroups() (*metav1.APIGroupList, error) {
	return d.serverGroups(context.Background())
}

func (d *discoveryClient) serverGroups(ctx context.Context) (*metav1.APIGroupList, error) {
	var core metav1.APIVersions
	if err := d.rc.Get().AbsPath("/api").Do(ctx).Into(&core); err != nil {
		return nil, err
	}
	var list metav1.APIGroupList
	// An API server without groups (or one that hides them) answers 404 or
	// 403 here; the core group still counts, as in client-go.
	if err := d.rc.Get().AbsPath("/apis").Do(ctx).Into(&list); err != nil && !apierrors.IsNotFound(err) && !apierrors.IsForbidden(err) {
		return nil, err
	}
	list.Groups = append([]metav1.APIGroup{*coreGroup(&core)}, list.Groups...)
	return &list, nil
}

// resources reads one group version's resources.
func (d *discoveryClient) resources(ctx context.Context, gv schema.GroupVersion) (*metav1.APIResourceList, error) {
	path := "/apis/" + gv.String()
	if gv.Group == "" {
		path = "/api/" + gv.Version
	}
	l := &metav1.APIResourceList{GroupVersion: gv.String()}
	if err := d.rc.Get().AbsPath(path).Do(ctx).Into(l); err != nil {
		return nil, err
	}
	return l, nil
}

// coreGroup is the core group as /api describes it.
func coreGroup(v *metav1.APIVersions) *metav1.APIGroup {
	g := &metav1.APIGroup{}
	for _, version := range v.Versions {
		g.Versions = append(g.Versions, metav1.GroupVersionForDiscovery{GroupVersion: version, Version: version})
	}
	if len(g.Versions) > 0 {
		g.PreferredVersion = g.Versions[0]
	}
	return g
}
