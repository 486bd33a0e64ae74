package hook

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/sparkcm-hook/sparkcm-hook/hook/lint"
)

// LiveSources lists the SparkApplications of the namespaces (none, or "",
// for all) in every group the lint knows and the API server serves, and
// returns each as a lint source named after the object, so that the same
// checks run on a cluster as on files. A group that is not served is
// skipped with a warning; one that is served in no version the tool reads
// is an *UnservedError, since its applications cannot be checked.
func LiveSources(ctx context.Context, c Clients, log *slog.Logger, retry RetryPolicy, namespaces []string) ([]lint.Source, error) {
	if len(namespaces) == 0 {
		namespaces = []string{""}
	}
	var out []lint.Source
	// Check reads each group in whichever version the API server prefers:
	// the lint reads applications by apiVersion group, not by version.
	for _, g := range []sparkAPIGroup{sparkOperatorAPI, {Group: apacheAppsAPI.Group, Resource: apacheAppsAPI.Resource, Kind: apacheAppsAPI.Kind}} {
		version, err := liveVersion(ctx, c, g)
		if err != nil {
			return nil, err
		}
		if version == "" {
			log.Warn("SparkApplications of this group not checked: the API server does not serve it", "group", g.Group)
			continue
		}
		gvr := schema.GroupVersionResource{Group: g.Group, Version: version, Resource: g.Resource}
		groupStart := len(out)
		for _, ns := range namespaces {
			start := len(out) // a list that starts over drops only its own items
			err := listPaged(ctx, listSpec{
				log: log, retry: retry, ns: ns, what: "list " + g.Resource + "." + g.Group, verb: "list", group: g.Group, resrc: g.Resource,
				list: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
					return c.Dynamic.Resource(gvr).Namespace(ns).List(ctx, opts)
				},
				each: func(obj runtime.Object) error {
					u, ok := obj.(*unstructured.Unstructured)
					if !ok {
						return fmt.Errorf("list %s: unexpected item %T", g.Resource, obj)
					}
					s, err := liveSource(g, u)
					if err != nil {
						return err
					}
					out = append(out, s)
					return nil
				},
				reset: func() { out = out[:start] },
			})
			var fe *ForbiddenError
			if err != nil && g.Group == apacheAppsAPI.Group && errors.As(err, &fe) {
				// The tool's Role grants the Kubeflow group only: an
				// Apache group it may not read is skipped aloud, not
				// the whole check failed.
				log.Warn("SparkApplications of this group not checked: not allowed to list them", "group", g.Group, "err", err)
				out = out[:groupStart]
				break
			}
			if err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// liveVersion is the version of g to read, or "" when the API server does
// not serve the group. Without discovery (minimal fakes) the Kubeflow
// group is read in the tool's version and the Apache one not at all.
func liveVersion(ctx context.Context, c Clients, g sparkAPIGroup) (string, error) {
	if c.Kube == nil && c.Store == nil {
		if g.Group == sparkOperatorAPI.Group {
			return g.Versions[0], nil
		}
		return "", nil
	}
	served, found, err := servedVersions(ctx, c.api(), g.Group)
	switch {
	case err != nil:
		return "", &UnservedError{Group: g.Group, Resource: g.Resource, Readable: g.Versions, Err: err}
	case !found:
		return "", nil
	case len(g.Versions) == 0:
		return served[0], nil // discovery lists the preferred version first
	}
	if v := g.pickVersion(served); v != "" {
		return v, nil
	}
	return "", &UnservedError{Group: g.Group, Resource: g.Resource, Readable: g.Versions, Served: served}
}

// liveSource is an application as the lint reads a manifest: its YAML
// without what the API server adds (managed fields, status), which no
// rule reads and which would only make the document long. It is named
// sparkapplication/NS/NAME (Kubeflow) or sparkapplication.GROUP/NS/NAME.
func liveSource(g sparkAPIGroup, u *unstructured.Unstructured) (lint.Source, error) {
	u = u.DeepCopy()
	unstructured.RemoveNestedField(u.Object, "metadata", "managedFields")
	unstructured.RemoveNestedField(u.Object, "status")
	data, err := yaml.Marshal(u.Object)
	if err != nil {
		return lint.Source{}, fmt.Errorf("sparkapplication %s/%s: %w", u.GetNamespace(), u.GetName(), err)
	}
	kind := "sparkapplication"
	if g.Group != sparkOperatorAPI.Group {
		kind += "." + g.Group
	}
	return lint.Source{Name: kind + "/" + u.GetNamespace() + "/" + u.GetName(), Data: data}, nil
}
