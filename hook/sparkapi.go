package hook

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/sparkcm-hook/sparkcm-hook/hook/kube"
	"github.com/sparkcm-hook/sparkcm-hook/hook/store"
)

// sparkAPIGroup is one API group of SparkApplications, with the versions
// of it the tool can read, most preferred first.
type sparkAPIGroup struct {
	Group    string
	Resource string
	Kind     string
	Versions []string
}

// sparkOperatorAPI is the Kubeflow Spark Operator's group; the tool reads
// store.SparkApplicationGVR, its one version here.
var sparkOperatorAPI = sparkAPIGroup{Group: store.SparkApplicationGVR.Group, Resource: store.SparkApplicationGVR.Resource, Kind: "SparkApplication",
	Versions: []string{store.SparkApplicationGVR.Version}}

// UnservedError says that an API group of SparkApplications is installed
// but answers in none of the versions the tool reads (a CRD upgraded to a
// new version, the old one no longer served), or could not be asked.
// Nothing can then be known of its applications: the maps they own are
// kept, with this as the reason.
type UnservedError struct {
	Group    string
	Resource string
	Readable []string // the versions the tool reads
	Served   []string // the versions the API server serves; nil when unknown
	Err      error    // why the served versions are unknown, if they are
}

func (e *UnservedError) Error() string {
	res := e.Resource + "." + e.Group
	if e.Err != nil {
		return fmt.Sprintf("%s cannot be read: the API server answered 404 for %s and its served versions could not be read (%v)", res, strings.Join(e.Readable, ", "), e.Err)
	}
	if len(e.Served) == 0 || (sparkAPIGroup{Versions: e.Readable}).pickVersion(e.Served) != "" {
		return fmt.Sprintf("%s cannot be read: the API server answered 404 for version %s, which discovery lists as served (%s)", res, strings.Join(e.Readable, ", "), strings.Join(e.Served, ", "))
	}
	return fmt.Sprintf("%s cannot be read: the API server serves version %s, the tool reads %s", res, strings.Join(e.Served, ", "), strings.Join(e.Readable, ", "))
}

func (e *UnservedError) Unwrap() error { return e.Err }

// servedVersions asks discovery which versions of the group the API
// server serves; found is false when the group is not served at all (its
// CRD is not installed).
func servedVersions(ctx context.Context, api store.Store, group string) (versions []string, found bool, err error) {
	list, err := api.ServerGroups(ctx)
	if err != nil {
		return nil, false, err
	}
	for _, g := range list.Groups {
		if g.Name != group {
			continue
		}
		for _, v := range g.Versions {
			versions = append(versions, v.Version)
		}
		return versions, true, nil
	}
	return nil, false, nil
}

// pickVersion is the first version the tool reads that the server serves,
// or "".
func (g sparkAPIGroup) pickVersion(served []string) string {
	for _, v := range g.Versions {
		if slices.Contains(served, v) {
			return v
		}
	}
	return ""
}

// objectNotFound tells one object's NotFound (the API server names the
// object it did not find) from a 404 of the resource itself (no such
// group, version or resource: the Status names no object). A list never
// misses an object.
func objectNotFound(err error, name string) bool {
	var status apierrors.APIStatus
	if name == "" || !kube.IsNotFound(err) || !errors.As(err, &status) {
		return false
	}
	d := status.Status().Details
	return d != nil && d.Name == name
}

// answered404 is any 404 to a read of SparkApplications: the API server's
// NotFound for an object, or the bare "404 page not found" (no Status) it
// answers for a group or version it does not serve, which also looks like
// a proxy's page. Which it was is for sparkAppsMissing to tell, from the
// Status and from discovery, never from the 404 alone.
func answered404(err error) bool { return apierrors.IsNotFound(err) }

// sparkAppsMissing is called with a 404 from reading SparkApplications
// (a list, or a get of name). It returns nil when the answer means "no such
// application": the object is gone, or the group is not installed at all
// (plain spark-submit only). Otherwise, the group is installed but cannot
// be read in any version the tool knows, or the server's discovery cannot
// say: an *UnservedError, and the applications' maps must be kept.
func sparkAppsMissing(ctx context.Context, c Clients, err error, name string) error {
	return appsMissingIn(ctx, c, sparkOperatorAPI, err, name)
}

// appsMissingIn is sparkAppsMissing for the applications of group g.
func appsMissingIn(ctx context.Context, c Clients, g sparkAPIGroup, err error, name string) error {
	if objectNotFound(err, name) {
		return nil
	}
	if c.Kube == nil && c.Store == nil {
		return nil // no discovery (minimal fakes): nothing more to know
	}
	served, found, derr := servedVersions(ctx, c.api(), g.Group)
	switch {
	case derr != nil:
		return &UnservedError{Group: g.Group, Resource: g.Resource, Readable: g.Versions, Err: derr}
	case !found:
		return nil
	}
	return &UnservedError{Group: g.Group, Resource: g.Resource, Readable: g.Versions, Served: served}
}
