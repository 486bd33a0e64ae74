package hook

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/sparkcm-hook/sparkcm-hook/hook/kube"
	"github.com/sparkcm-hook/sparkcm-hook/hook/rule"
	"github.com/sparkcm-hook/sparkcm-hook/hook/store"
)

// AdoptOptions say where adopt looks and whether it writes.
type AdoptOptions struct {
	// Namespace is the one namespace to adopt in; empty with AllNamespaces.
	Namespace     string
	AllNamespaces bool
	// Apply writes the ownerReferences; without it adopt only says what it
	// would write.
	Apply bool
	Retry RetryPolicy
}

// AdoptDecision is what adopt did with one user-supplied map.
type AdoptDecision string

// The decisions of adopt: every map a SparkApplication references ends up
// with one.
const (
	Adopted    AdoptDecision = "adopted"
	WouldAdopt AdoptDecision = "would adopt"
	// AlreadyAdopted: every application that references the map already
	// owns it; nothing to write.
	AlreadyAdopted AdoptDecision = "already adopted"
	AdoptSkipped   AdoptDecision = "skipped"
	AdoptFailed    AdoptDecision = "failed"
)

// Adoption is one user-supplied map and what adopt did with it.
type Adoption struct {
	Namespace string        `json:"namespace"`
	Name      string        `json:"name"`
	Decision  AdoptDecision `json:"decision"`
	// Owners are the SparkApplications that reference the map (and own it
	// once adopted), each as name and the field that names the map.
	Owners []string `json:"owners,omitempty"`
	Reason string   `json:"reason,omitempty"`
}

// AdoptResult is every map adopt considered, in namespace and name order.
type AdoptResult struct {
	Apply bool       `json:"apply"`
	Maps  []Adoption `json:"maps"`
}

// Count is the number of maps with decision d.
func (r *AdoptResult) Count(d AdoptDecision) int {
	n := 0
	for _, m := range r.Maps {
		if m.Decision == d {
			n++
		}
	}
	return n
}

// adoptRef is one SparkApplication that references a map, and how.
type adoptRef struct {
	app   *rule.SparkApp
	field string
}

// adoptIndex is what adopt reads of one scope: the SparkApplications and
// the maps they reference, and the Pods that use those maps.
type adoptIndex struct {
	appsByName map[string]*rule.SparkApp // namespace/name
	appsByUID  map[types.UID]*rule.SparkApp
	podsByUID  map[types.UID]*corev1.Pod
	refs       map[string][]adoptRef // namespace/map name
	// outsiders are the Pods that use a referenced map without belonging
	// to an application that references it.
	outsiders map[string][]string
}

// Adopt gives every ConfigMap that a SparkApplication supplies to Spark
// (spec.sparkConfigMap, spec.hadoopConfigMap, spec.driver/executor
// configMaps, ConfigMap volumes in spec.volumes) a non-controller
// ownerReference to each application that references it, so that the
// garbage collector deletes the map with the last of them. Only
// SparkApplications may then hold it: a map that a Pod outside those
// applications uses, that another kind of object owns, that a tool manages
// (app.kubernetes.io/managed-by), or marked sparkcm-hook/keep: "true" is
// skipped, with the reason. Each write is a merge patch carrying the map's
// UID and resourceVersion, so the map changed is exactly the map judged.
//
// An application created after the run is not an owner: run adopt again
// (on a schedule, say) before the last of the old owners goes.
func Adopt(ctx context.Context, c Clients, log *slog.Logger, o AdoptOptions) (*AdoptResult, error) {
	o.Retry = o.Retry.WithDefaults()
	ns := o.Namespace
	if o.AllNamespaces {
		ns = ""
	}
	ix, err := readAdoptIndex(ctx, c, log, o.Retry, ns)
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(ix.refs))
	for k := range ix.refs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	res := &AdoptResult{Apply: o.Apply}
	for _, k := range keys {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		mapNS, name, _ := strings.Cut(k, "/")
		res.Maps = append(res.Maps, adoptOne(ctx, c, log, o, ix, mapNS, name))
	}
	log.Info("adopt done", "namespaceScope", nsLabel(ns), "apply", o.Apply,
		"adopted", res.Count(Adopted), "wouldAdopt", res.Count(WouldAdopt), "alreadyAdopted", res.Count(AlreadyAdopted),
		"skipped", res.Count(AdoptSkipped), "failed", res.Count(AdoptFailed))
	if n := res.Count(AdoptFailed); n > 0 {
		return res, &PartialFailureError{Failed: n}
	}
	return res, nil
}

// readAdoptIndex lists the SparkApplications and the non-terminated Pods
// of the scope ("" is every namespace).
func readAdoptIndex(ctx context.Context, c Clients, log *slog.Logger, p RetryPolicy, ns string) (*adoptIndex, error) {
	ix := &adoptIndex{
		appsByName: map[string]*rule.SparkApp{}, appsByUID: map[types.UID]*rule.SparkApp{},
		podsByUID: map[types.UID]*corev1.Pod{}, refs: map[string][]adoptRef{}, outsiders: map[string][]string{},
	}
	api := c.api()
	err := listPaged(ctx, listSpec{
		log: log, retry: p, ns: ns, what: "list sparkapplications", verb: "list", group: store.SparkApplicationGVR.Group, resrc: store.SparkApplicationGVR.Resource,
		pageSize: sparkAppPageSize,
		list: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			return api.ListApps(ctx, store.SparkApplicationGVR, ns, opts)
		},
		each: func(obj runtime.Object) error {
			u := obj.(*unstructured.Unstructured)
			a := rule.ParseSparkApp(u)
			ix.appsByName[rule.NsKey(u.GetNamespace(), a.Name)] = a
			ix.appsByUID[a.UID] = a
			for name, field := range a.UserMaps {
				k := rule.NsKey(u.GetNamespace(), name)
				ix.refs[k] = append(ix.refs[k], adoptRef{app: a, field: field})
			}
			return nil
		},
		reset: func() { clear(ix.appsByName); clear(ix.appsByUID); clear(ix.refs) },
	})
	if answered404(err) {
		// No Spark Operator here: no application references any map.
		log.Debug("no SparkApplication resource on this cluster")
		return ix, nil
	}
	if err != nil {
		return nil, err
	}
	if len(ix.refs) == 0 {
		return ix, nil
	}
	var pods []*corev1.Pod
	err = listPaged(ctx, listSpec{
		log: log, retry: p, ns: ns, what: "list pods", verb: "list", group: "", resrc: "pods",
		list: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			opts.FieldSelector = nonTerminatedPods
			return api.ListPods(ctx, ns, opts)
		},
		each: func(obj runtime.Object) error {
			pod := obj.(*corev1.Pod)
			if refs := rule.PodConfigMapRefs(pod); len(refs) > 0 || pod.Labels[rule.LabelRole] == rule.RoleDriver {
				kept := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace, UID: pod.UID,
					Labels: pod.Labels, OwnerReferences: pod.OwnerReferences}, Spec: corev1.PodSpec{Volumes: pod.Spec.Volumes,
					Containers: pod.Spec.Containers, InitContainers: pod.Spec.InitContainers, EphemeralContainers: pod.Spec.EphemeralContainers}}
				pods = append(pods, kept)
				ix.podsByUID[pod.UID] = kept
			}
			return nil
		},
		reset: func() { pods = nil; clear(ix.podsByUID) },
	})
	if err != nil {
		return nil, err
	}
	for _, pod := range pods {
		app := ix.podApp(pod, 0)
		for _, name := range rule.PodConfigMapRefs(pod) {
			k := rule.NsKey(pod.Namespace, name)
			refs, referenced := ix.refs[k]
			if !referenced {
				continue
			}
			if app != nil && slices.ContainsFunc(refs, func(r adoptRef) bool { return r.app.UID == app.UID }) {
				continue
			}
			why := "Pod " + pod.Name
			if app != nil {
				why += " of SparkApplication " + app.Name + ", which does not name it in its spec"
			}
			ix.outsiders[k] = append(ix.outsiders[k], why)
		}
	}
	return ix, nil
}

// podApp is the SparkApplication a Pod belongs to: its owner, its driver's
// owner (an executor), or the one its operator label names; nil if none.
func (ix *adoptIndex) podApp(pod *corev1.Pod, depth int) *rule.SparkApp {
	for _, ref := range pod.OwnerReferences {
		if ref.Kind == "SparkApplication" {
			return ix.appsByUID[ref.UID]
		}
	}
	for _, ref := range pod.OwnerReferences {
		if ref.Kind == "Pod" && ref.APIVersion == "v1" && depth == 0 {
			if driver, ok := ix.podsByUID[ref.UID]; ok {
				if a := ix.podApp(driver, depth+1); a != nil {
					return a
				}
			}
		}
	}
	if name := pod.Labels[rule.LabelOperatorApp]; name != "" {
		return ix.appsByName[rule.NsKey(pod.Namespace, name)]
	}
	return nil
}

// adoptOne judges one referenced map and, with Apply, writes its owners.
func adoptOne(ctx context.Context, c Clients, log *slog.Logger, o AdoptOptions, ix *adoptIndex, ns, name string) Adoption {
	refs := ix.refs[rule.NsKey(ns, name)]
	sort.Slice(refs, func(i, j int) bool { return refs[i].app.Name < refs[j].app.Name })
	out := Adoption{Namespace: ns, Name: name}
	for _, r := range refs {
		out.Owners = append(out.Owners, r.app.Name+" ("+r.field+")")
	}
	skip := func(why string) Adoption {
		out.Decision, out.Reason = AdoptSkipped, why
		return out
	}
	api := c.api()
	var m *metav1.PartialObjectMetadata
	err := kube.CallAPI(ctx, log, o.Retry, ns, "get configmap "+name, "get", "", "configmaps", func(ctx context.Context) error {
		var err error
		m, err = api.GetMap(ctx, ns, name)
		return err
	})
	switch {
	case kube.IsNotFound(err):
		return skip("not found: no map to adopt")
	case err != nil:
		out.Decision, out.Reason = AdoptFailed, kube.OneLineErr(err)
		return out
	}
	if reason := adoptBlocked(&m.ObjectMeta, ix.outsiders[rule.NsKey(ns, name)]); reason != "" {
		return skip(reason)
	}
	owners := slices.Clone(m.OwnerReferences)
	added := 0
	for _, r := range refs {
		if ownedByUID(owners, r.app.UID) {
			continue
		}
		owners = append(owners, adoptOwnerRef(r.app))
		added++
	}
	if added == 0 {
		out.Decision = AlreadyAdopted
		return out
	}
	if !o.Apply {
		out.Decision = WouldAdopt
		return out
	}
	err = kube.CallAPI(ctx, log, o.Retry, ns, "patch configmap "+name, "patch", "", "configmaps", func(ctx context.Context) error {
		return api.SetMapOwners(ctx, ns, name, m.UID, m.ResourceVersion, owners)
	})
	switch {
	case kube.IsConflict(err), kube.IsNotFound(err):
		// What was judged is no longer there: judge it afresh next run.
		out.Decision, out.Reason = AdoptFailed, "changed since it was read; run again"
	case err != nil:
		out.Decision, out.Reason = AdoptFailed, kube.OneLineErr(err)
	default:
		out.Decision = Adopted
		log.Info("adopted", "namespace", ns, "configMap", name, "owners", len(refs))
	}
	return out
}

// adoptBlocked says why a map must not be handed to the garbage
// collector, or "" when SparkApplications alone hold it.
func adoptBlocked(m *metav1.ObjectMeta, outsiders []string) string {
	if v, ok := m.Annotations[rule.AnnotationKeep]; ok && v == "true" {
		return rule.AnnotationKeep + `: "true"`
	}
	if m.DeletionTimestamp != nil {
		return "being deleted"
	}
	if by := m.Labels["app.kubernetes.io/managed-by"]; by != "" {
		return fmt.Sprintf("managed by %s (app.kubernetes.io/managed-by): its manager, not the garbage collector, decides when it goes", rule.Shown(by))
	}
	for _, ref := range m.OwnerReferences {
		if !rule.IsSparkAppRef(ref) {
			return fmt.Sprintf("has another owner (%s %s)", rule.Shown(ref.Kind), rule.Shown(ref.Name))
		}
	}
	if len(outsiders) > 0 {
		sort.Strings(outsiders)
		return "used by " + strings.Join(outsiders, ", ") + " outside the applications that reference it"
	}
	return ""
}

// adoptOwnerRef is the reference the garbage collector follows: not the
// controller (the application does not manage the map), and not blocking
// the application's foreground deletion on the map.
func adoptOwnerRef(a *rule.SparkApp) metav1.OwnerReference {
	f := false
	return metav1.OwnerReference{
		APIVersion: store.SparkApplicationGVR.GroupVersion().String(), Kind: "SparkApplication",
		Name: a.Name, UID: a.UID, Controller: &f, BlockOwnerDeletion: &f,
	}
}
