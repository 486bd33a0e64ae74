package hook

import (
	"context"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/sparkcm-hook/sparkcm-hook/hook/rule"
	"github.com/sparkcm-hook/sparkcm-hook/hook/store"
)

// The operators whose SparkApplications the tool reads, as a user names
// them (cleanup --operator).
const (
	OperatorKubeflow = "kubeflow" // sparkoperator.k8s.io
	OperatorApache   = "apache"   // spark.apache.org
)

// ApacheSparkGroup is the Apache Spark Kubernetes Operator's API group.
const ApacheSparkGroup = rule.ApacheGroup

// apacheAppsAPI is the Apache Spark Kubernetes Operator's group, in the
// versions whose status the tool reads (release 1.0.0: v1 storage, v1beta1
// served with the same status), most preferred first.
var apacheAppsAPI = sparkAPIGroup{Group: ApacheSparkGroup, Resource: "sparkapplications", Kind: "SparkApplication", Versions: []string{"v1", "v1beta1"}}

// operatorGroups are the operators' API groups by the name the user gives.
var operatorGroups = map[string]sparkAPIGroup{OperatorKubeflow: sparkOperatorAPI, OperatorApache: apacheAppsAPI}

// OperatorOfGroup is the operator name (OperatorKubeflow,
// OperatorApache) of a SparkApplication API group, or "" for a group the
// tool does not read.
func OperatorOfGroup(group string) string {
	for name, g := range operatorGroups {
		if g.Group == group {
			return name
		}
	}
	return ""
}

// ParseSparkAppTarget reads cleanup's --spark-app and --operator: NAME, or
// a name qualified with its resource and group as kubectl writes it
// (sparkapplications.spark.apache.org/NAME,
// sparkapplications.sparkoperator.k8s.io/NAME). It returns the bare name
// and the operator ("" when neither says). An operator that is not one of
// the two, a qualification that names another resource, or one that
// contradicts --operator is a *UsageError: the tool never guesses which
// application is meant.
func ParseSparkAppTarget(target, operator string) (name, op string, err error) {
	if operator != "" && operatorGroups[operator].Group == "" {
		return "", "", Usagef("--operator must be %s or %s, not %q", OperatorKubeflow, OperatorApache, operator)
	}
	name, op = target, operator
	if qual, bare, ok := strings.Cut(target, "/"); ok {
		res, group, _ := strings.Cut(qual, ".")
		q := OperatorOfGroup(group)
		if (res != "sparkapplications" && res != "sparkapplication") || q == "" {
			return "", "", Usagef("--spark-app %q: qualify a name as sparkapplications.%s/NAME or sparkapplications.%s/NAME", target, sparkOperatorAPI.Group, ApacheSparkGroup)
		}
		if op != "" && op != q {
			return "", "", Usagef("--spark-app %s names the %s operator's application, --operator says %s", target, q, op)
		}
		name, op = bare, q
	}
	if target != "" {
		if err := ValidateObjectName("SparkApplication name", name); err != nil {
			return "", "", err
		}
	}
	return name, op, nil
}

// AmbiguousAppError says that a SparkApplication name exists in both
// operators' groups in the namespace, and the user did not say which is
// meant. It is a usage error: the command exits 2 and changes nothing.
type AmbiguousAppError struct {
	Namespace, Name string
}

func (e *AmbiguousAppError) Error() string {
	return "SparkApplication " + e.Namespace + "/" + e.Name + " exists for both operators (" + sparkOperatorAPI.Group + " and " + ApacheSparkGroup +
		"); say which with --operator " + OperatorKubeflow + "|" + OperatorApache + " or --spark-app sparkapplications." + ApacheSparkGroup + "/" + e.Name
}

// Unwrap makes it a *UsageError for errors.As, so that it exits 2.
func (e *AmbiguousAppError) Unwrap() error { return &UsageError{Msg: e.Error()} }

// gvr is the resource of a group in one version.
func (g sparkAPIGroup) gvr(version string) schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: g.Group, Version: version, Resource: g.Resource}
}

// groupOf is the API group of an apiVersion ("group/version"; "" for the
// core group).
func groupOf(apiVersion string) string {
	g, _, ok := strings.Cut(apiVersion, "/")
	if !ok {
		return ""
	}
	return g
}

// ServedSparkApps is the resource in which the API server serves an
// operator's SparkApplications, in the version the tool reads them in (the
// one cleanup and sweep read): ok false when the group is not served (its
// CRD is not installed); an *UnservedError when it is served in no version
// the tool reads, or discovery cannot say. An operator that is not one of
// the tool's is a *UsageError.
func ServedSparkApps(ctx context.Context, c Clients, operator string) (gvr schema.GroupVersionResource, ok bool, err error) {
	g, known := operatorGroups[operator]
	if !known {
		return gvr, false, Usagef("--operator must be %s or %s, not %q", OperatorKubeflow, OperatorApache, operator)
	}
	return g.served(ctx, c)
}

// apacheResource is the version of the Apache operator's group to read:
// ok false when the API server does not serve the group (its CRD is not
// installed, or there is no discovery: minimal fakes); an *UnservedError
// when it is served in no version the tool reads, or discovery cannot say.
func apacheResource(ctx context.Context, c Clients) (gvr schema.GroupVersionResource, ok bool, err error) {
	return apacheAppsAPI.served(ctx, c)
}

// served is the version of the group to read, as apacheResource says.
func (g sparkAPIGroup) served(ctx context.Context, c Clients) (gvr schema.GroupVersionResource, ok bool, err error) {
	if c.Kube == nil && c.Store == nil {
		return gvr, false, nil
	}
	served, found, derr := servedVersions(ctx, c.api(), g.Group)
	switch {
	case derr != nil:
		return gvr, false, &UnservedError{Group: g.Group, Resource: g.Resource, Readable: g.Versions, Err: derr}
	case !found:
		return gvr, false, nil
	}
	if v := g.pickVersion(served); v != "" {
		return g.gvr(v), true, nil
	}
	return gvr, false, &UnservedError{Group: g.Group, Resource: g.Resource, Readable: g.Versions, Served: served}
}

// appResource is the resource to read a SparkApplication of group in.
func appResource(ctx context.Context, c Clients, group string) (schema.GroupVersionResource, bool, error) {
	if group == ApacheSparkGroup {
		return apacheResource(ctx, c)
	}
	return store.SparkApplicationGVR, true, nil
}
