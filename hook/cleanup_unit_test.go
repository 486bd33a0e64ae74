package hook

import (
	"context"
	"errors"
	"net/url"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	metadatafake "k8s.io/client-go/metadata/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/sparkcm-hook/sparkcm-hook/hook/rule"
	"github.com/sparkcm-hook/sparkcm-hook/hook/store"
	"github.com/sparkcm-hook/sparkcm-hook/internal/kubetest"
	"github.com/sparkcm-hook/sparkcm-hook/internal/retrytest"
)

// fakeWorld is one finished application in fake clients: enough to drive
// the retry and error paths. What fakes cannot show (selectors, paging,
// garbage collection, RBAC) is proved on the real control plane.
type fakeWorld struct {
	kube    *fake.Clientset
	md      *metadatafake.FakeMetadataClient
	clients Clients
	deletes atomic.Int32
}

const (
	fakeNS    = "jobs"
	fakeAppID = "spark-0123456789abcdef0123456789abcdef"
)

func newFakeWorld(t *testing.T, state string, driverPhase corev1.PodPhase) *fakeWorld {
	t.Helper()
	saUID, podUID := types.UID("sa-uid"), types.UID("pod-uid")
	sa := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "sparkoperator.k8s.io/v1beta2",
		"kind":       "SparkApplication",
		"metadata":   map[string]any{"name": "etl", "namespace": fakeNS, "uid": string(saUID)},
		"status": map[string]any{
			"sparkApplicationId": fakeAppID,
			"driverInfo":         map[string]any{"podName": "etl-driver"},
			"applicationState":   map[string]any{"state": state},
		},
	}}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "etl-driver", Namespace: fakeNS, UID: podUID,
			Labels:          map[string]string{rule.LabelAppSelector: fakeAppID, rule.LabelRole: rule.RoleDriver},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "sparkoperator.k8s.io/v1beta2", Kind: "SparkApplication", Name: "etl", UID: saUID}}},
		Spec:   corev1.PodSpec{Volumes: []corev1.Volume{{Name: "spark-conf-volume-driver", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "spark-drv-0123456789abcdef-conf-map"}}}}}},
		Status: corev1.PodStatus{Phase: driverPhase},
	}
	owner := []metav1.OwnerReference{{APIVersion: "v1", Kind: "Pod", Name: "etl-driver", UID: podUID, Controller: ptr(true)}}
	maps := []*corev1.ConfigMap{
		{ObjectMeta: metav1.ObjectMeta{Name: "spark-drv-0123456789abcdef-conf-map", Namespace: fakeNS, UID: "cm-drv", OwnerReferences: owner}},
		{ObjectMeta: metav1.ObjectMeta{Name: "spark-exec-0123456789abcdef-conf-map", Namespace: fakeNS, UID: "cm-exec", OwnerReferences: owner,
			Labels: map[string]string{rule.LabelAppSelector: fakeAppID, rule.LabelRole: rule.RoleExecutor}}},
	}
	objs := []runtime.Object{pod}
	var metas []runtime.Object
	for _, m := range maps {
		objs = append(objs, m)
		metas = append(metas, &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}, ObjectMeta: m.ObjectMeta})
	}
	kube := fake.NewClientset(objs...)
	ms := metadatafake.NewTestScheme()
	if err := metav1.AddMetaToScheme(ms); err != nil {
		t.Fatal(err)
	}
	md := metadatafake.NewSimpleMetadataClient(ms, metas...)
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{store.SparkApplicationGVR: "SparkApplicationList"}, sa)
	w := &fakeWorld{kube: kube, md: md, clients: Clients{Kube: kubetest.FromClientset(kube), Metadata: md, Dynamic: dyn}}
	md.PrependReactor("delete", "configmaps", func(k8stesting.Action) (bool, runtime.Object, error) {
		w.deletes.Add(1)
		return false, nil, nil
	})
	return w
}

func ptr[T any](v T) *T { return &v }

// failDeletes makes the first n deletes fail with err (all of them for n<0).
func (w *fakeWorld) failDeletes(n int, err error) {
	var seen atomic.Int32
	w.md.PrependReactor("delete", "configmaps", func(k8stesting.Action) (bool, runtime.Object, error) {
		if n < 0 || int(seen.Add(1)) <= n {
			w.deletes.Add(1) // this reactor answers first; count the call here
			return true, nil, err
		}
		return false, nil, nil
	})
}

func (w *fakeWorld) cleanup(t *testing.T, o CleanupOptions) (*Result, error) {
	t.Helper()
	if o.Namespace == "" {
		o.Namespace = fakeNS
	}
	if o.SparkApp == "" && o.DriverPod == "" && o.AppID == "" {
		o.SparkApp = "etl"
	}
	o.NoEvent = true
	if o.Retry.Budget == 0 {
		o.Retry = RetryPolicy{Budget: 30 * time.Second, Initial: 100 * time.Millisecond, Max: time.Second}
	}
	o.Retry = retrytest.NewFakeTime().Apply(o.Retry)
	return Cleanup(context.Background(), w.clients, memLogger, o)
}

func TestCleanupRetriesEachTransientFailureUntilTheMapIsDeleted(t *testing.T) {
	for name, err := range map[string]error{
		"429":                retrytest.TooManyRequests(1),
		"500":                apierrors.NewInternalError(errors.New("etcd hiccup")),
		"503":                apierrors.NewServiceUnavailable("apiserver restarting"),
		"504 server timeout": apierrors.NewServerTimeout(cmGR, "delete", 1),
		"connection reset":   &url.Error{Op: "Delete", URL: "https://apiserver", Err: syscall.ECONNRESET},
		"connection refused": &url.Error{Op: "Delete", URL: "https://apiserver", Err: syscall.ECONNREFUSED},
	} {
		t.Run(name, func(t *testing.T) {
			w := newFakeWorld(t, "COMPLETED", corev1.PodSucceeded)
			w.failDeletes(3, err)
			res, cerr := w.cleanup(t, CleanupOptions{Concurrency: 1})
			if cerr != nil || len(res.Deleted) != 2 || len(res.Failed) != 0 {
				t.Fatalf("err %v, result %+v; want both maps deleted", cerr, res)
			}
			if got := w.deletes.Load(); got != 5 {
				t.Fatalf("%d delete calls, want 3 failures + 2 successes", got)
			}
		})
	}
}

// isErr reports whether err is (or wraps) a T: the typed errors are what the
// command line turns into exit codes.
func isErr[T error](err error) bool {
	var target T
	return errors.As(err, &target)
}

// isPlainFailure is an error that is none of the typed ones (exit 1).
func isPlainFailure(err error) bool {
	return err != nil && !isErr[*UsageError](err) && !isErr[*ForbiddenError](err) && !isErr[*StillRunningError](err)
}

func isNil(err error) bool { return err == nil }

func TestCleanupErrorKinds(t *testing.T) {
	cases := []struct {
		name  string
		state string
		phase corev1.PodPhase
		fail  error
		opts  CleanupOptions
		want  func(error) bool
	}{
		{name: "done", state: "COMPLETED", phase: corev1.PodSucceeded, want: isNil},
		{name: "nothing to delete", state: "FAILED", phase: corev1.PodFailed, opts: CleanupOptions{AppID: "spark-unknown"}, want: isNil},
		{name: "still failing when the budget runs out", state: "COMPLETED", phase: corev1.PodSucceeded, fail: apierrors.NewServiceUnavailable("down"), want: isPlainFailure},
		{name: "final server error", state: "COMPLETED", phase: corev1.PodSucceeded, fail: apierrors.NewInvalid(schema.GroupKind{Kind: "ConfigMap"}, "x", nil), want: isPlainFailure},
		{name: "invalid target", state: "COMPLETED", phase: corev1.PodSucceeded, opts: CleanupOptions{AppID: "a,b"}, want: isErr[*UsageError]},
		{name: "two targets", state: "COMPLETED", phase: corev1.PodSucceeded, opts: CleanupOptions{AppID: "a", DriverPod: "b"}, want: isErr[*UsageError]},
		{name: "forbidden", state: "COMPLETED", phase: corev1.PodSucceeded, fail: apierrors.NewForbidden(cmGR, "x", errors.New("no")), want: isErr[*ForbiddenError]},
		{name: "application running", state: "RUNNING", phase: corev1.PodRunning, want: isErr[*StillRunningError]},
		{name: "driver pod still running though the app says completed", state: "COMPLETED", phase: corev1.PodRunning, want: isErr[*StillRunningError]},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newFakeWorld(t, tc.state, tc.phase)
			if tc.fail != nil {
				w.failDeletes(-1, tc.fail)
			}
			tc.opts.Retry = RetryPolicy{Budget: 10 * time.Second, Initial: time.Second, Max: 2 * time.Second}
			res, err := w.cleanup(t, tc.opts)
			if !tc.want(err) {
				t.Fatalf("wrong kind of error: %T %v", err, err)
			}
			if isErr[*StillRunningError](err) || isErr[*UsageError](err) {
				if w.deletes.Load() != 0 || len(res.Deleted) != 0 {
					t.Fatalf("%T but %d deletes were sent", err, w.deletes.Load())
				}
			}
		})
	}
}

func TestCleanupReportsAConflictAsSkippedAndNeverRetriesIt(t *testing.T) {
	w := newFakeWorld(t, "COMPLETED", corev1.PodSucceeded)
	w.failDeletes(-1, apierrors.NewConflict(cmGR, "x", errors.New("Precondition failed: UID in precondition")))
	res, err := w.cleanup(t, CleanupOptions{Concurrency: 1})
	if err != nil || len(res.Skipped) != 2 || len(res.Deleted) != 0 {
		t.Fatalf("err %v, result %+v; want both skipped", err, res)
	}
	if w.deletes.Load() != 2 {
		t.Fatalf("%d delete calls for 2 maps: a conflict was retried", w.deletes.Load())
	}
}

func TestCleanupCountsNotFoundOnDeleteAsAlreadyDeleted(t *testing.T) {
	w := newFakeWorld(t, "COMPLETED", corev1.PodSucceeded)
	w.failDeletes(-1, apierrors.NewNotFound(cmGR, "x"))
	res, err := w.cleanup(t, CleanupOptions{})
	if err != nil || len(res.Deleted) != 2 || res.Deleted[0].Reason != "already deleted" {
		t.Fatalf("err %v, result %+v", err, res)
	}
}

func TestCleanupSendsAUIDPreconditionWithEveryDelete(t *testing.T) {
	w := newFakeWorld(t, "COMPLETED", corev1.PodSucceeded)
	var missing atomic.Int32
	w.md.PrependReactor("delete", "configmaps", func(a k8stesting.Action) (bool, runtime.Object, error) {
		opts := a.(k8stesting.DeleteActionImpl).GetDeleteOptions()
		if opts.Preconditions == nil || opts.Preconditions.UID == nil || *opts.Preconditions.UID == "" {
			missing.Add(1)
		}
		return false, nil, nil
	})
	if _, err := w.cleanup(t, CleanupOptions{}); err != nil {
		t.Fatal(err)
	}
	if missing.Load() != 0 {
		t.Fatalf("%d deletes without a UID precondition", missing.Load())
	}
}

func TestCleanupDryRunDeletesNothing(t *testing.T) {
	w := newFakeWorld(t, "COMPLETED", corev1.PodSucceeded)
	res, err := w.cleanup(t, CleanupOptions{DryRun: true})
	if err != nil || len(res.Deleted) != 2 || res.Deleted[0].Decision != WouldDelete {
		t.Fatalf("err %v result %+v", err, res)
	}
	if w.deletes.Load() != 0 {
		t.Fatalf("dry run sent %d deletes", w.deletes.Load())
	}
}
