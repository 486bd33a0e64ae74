package sparksubmit_test

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/sparkcm-hook/sparkcm-hook/internal/sparkfixture"
)

// observed is what real Spark made, kept for the comparison with the
// fixtures.
type observed struct {
	cluster   *clusterApp
	ownerless corev1.ConfigMap
	owned     *clientOwned
}

// TestRealSpark runs every pinned Spark version against the real control
// plane and the real sparkcm-hook binary: cluster mode, client mode, a clean
// stop and a killed driver; then checks that internal/sparkfixture makes what
// that Spark made. The versions run side by side.
func TestRealSpark(t *testing.T) {
	needSpark(t)
	cp = shared.Get(t)
	for _, in := range installs {
		t.Run("spark-"+in.Version, func(t *testing.T) {
			t.Parallel()
			seen := &observed{}
			t.Run("cluster mode", func(t *testing.T) { clusterMode(t, in, seen) })
			t.Run("client mode", func(t *testing.T) { clientMode(t, in, seen) })
			t.Run("the fixtures make what Spark made", func(t *testing.T) { fixturesMatch(t, in.Version, seen) })
		})
	}
}

// ref names what is particular to one application, so that two
// applications of the same shape describe alike.
type ref struct {
	driverPod string
	driverUID types.UID
	prefix    string // Spark's resource name prefix <app name>-<16 hex>
	appID     string
	appName   string
	version   string
}

var (
	confMapHex  = regexp.MustCompile(`^spark-(drv|exec)-[0-9a-f]{16}-conf-map$`)
	execPodName = regexp.MustCompile(`^.+-[0-9a-f]{16}-exec-(\d+)$`)
)

func (r ref) name(n string) string {
	switch {
	case n == r.driverPod:
		return "<driver pod>"
	case r.prefix != "" && strings.HasPrefix(n, r.prefix+"-"):
		return "<prefix>" + strings.TrimPrefix(n, r.prefix)
	}
	n = confMapHex.ReplaceAllString(n, "spark-$1-<16 hex>-conf-map")
	return execPodName.ReplaceAllString(n, "<prefix>-exec-$1")
}

func (r ref) labels(l map[string]string) string {
	var out []string
	for k, v := range l {
		switch {
		case v == r.appID:
			v = "<app id>"
		case k == "spark-app-name" && v == r.appName:
			v = "<app name>"
		case k == "spark-version" && v == r.version:
			v = "<version>"
		}
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return "{" + strings.Join(out, ",") + "}"
}

func (r ref) owners(refs []metav1.OwnerReference) string {
	var out []string
	for _, o := range refs {
		uid := string(o.UID)
		if o.UID == r.driverUID {
			uid = "<driver uid>"
		}
		flag := func(b *bool) string {
			if b == nil {
				return "unset"
			}
			return fmt.Sprint(*b)
		}
		out = append(out, fmt.Sprintf("%s/%s %s uid=%s controller=%s blockOwnerDeletion=%s",
			o.APIVersion, o.Kind, r.name(o.Name), uid, flag(o.Controller), flag(o.BlockOwnerDeletion)))
	}
	return "[" + strings.Join(out, "; ") + "]"
}

// describeMap is one line per fact the tool's decisions rest on: the name's
// pattern, labels, owners, data keys, immutability.
func (r ref) describeMap(m *corev1.ConfigMap) []string {
	keys := make([]string, 0, len(m.Data))
	for k := range m.Data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	n := "map " + r.name(m.Name)
	return []string{
		n + " labels " + r.labels(m.Labels),
		n + " owners " + r.owners(m.OwnerReferences),
		n + " data keys " + strings.Join(keys, ","),
		n + " immutable " + fmt.Sprint(m.Immutable != nil && *m.Immutable),
	}
}

// describePod covers the labels, owners and the ConfigMaps a Pod mounts
// (volume name, map name pattern, the keys it projects).
func (r ref) describePod(what string, p *corev1.Pod) []string {
	n := what + " " + r.name(p.Name)
	out := []string{n + " labels " + r.labels(p.Labels), n + " owners " + r.owners(p.OwnerReferences)}
	for _, v := range p.Spec.Volumes {
		if v.ConfigMap == nil {
			continue
		}
		var items []string
		for _, it := range v.ConfigMap.Items {
			items = append(items, it.Key)
		}
		sort.Strings(items)
		out = append(out, fmt.Sprintf("%s volume %s -> map %s items [%s]", n, v.Name, r.name(v.ConfigMap.Name), strings.Join(items, ",")))
	}
	return out
}

// diff fails t with the lines only one side has.
func diff(t *testing.T, what string, fixture, spark []string) {
	t.Helper()
	count := func(lines []string) map[string]int {
		m := map[string]int{}
		for _, l := range lines {
			m[l]++
		}
		return m
	}
	f, s := count(fixture), count(spark)
	var out []string
	for l, n := range f {
		if s[l] < n {
			out = append(out, "- fixture: "+l)
		}
	}
	for l, n := range s {
		if f[l] < n {
			out = append(out, "+ spark:   "+l)
		}
	}
	if len(out) > 0 {
		sort.Slice(out, func(i, j int) bool { return out[i][10:] < out[j][10:] })
		t.Errorf("%s: internal/sparkfixture differs from real Spark\n%s", what, strings.Join(out, "\n"))
	}
}

// fixturesMatch compares, per shape, what internal/sparkfixture makes with
// what real Spark made above.
func fixturesMatch(t *testing.T, version string, seen *observed) {
	if seen.cluster == nil || seen.owned == nil || seen.ownerless.Name == "" {
		t.Fatal("real Spark's objects were not captured: see the failures above")
	}
	ctx := ctxFor(t, 2*time.Minute)
	ns := cp.NewNamespace(t)
	kube, dyn := cp.Clientset(), cp.Dynamic()

	t.Run("cluster mode: driver-side maps and the driver Pod", func(t *testing.T) {
		fx, err := sparkfixture.Create(ctx, kube, dyn, ns, sparkfixture.Spec{
			Name: "by-driver-pod", SparkVersion: version, NoSparkApplication: true,
			PodTemplate: true, Hadoop: true, Krb5: true, NoExecutorMap: true, DriverPhase: corev1.PodPending,
		})
		if err != nil {
			t.Fatal(err)
		}
		fd, err := kube.CoreV1().Pods(ns).Get(ctx, fx.DriverPod, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		fr := ref{fx.DriverPod, fx.DriverUID, fx.ResourcePrefix, fx.AppID, fx.Name, version}
		var fixture []string
		for _, m := range fx.Maps {
			fixture = append(fixture, fr.describeMap(m)...)
		}
		fixture = append(fixture, fr.describePod("driver", fd)...)

		a := seen.cluster
		sr := ref{a.driver.Name, a.driver.UID, strings.TrimSuffix(a.driver.Name, "-driver"), a.sub.AppID, "by-driver-pod", version}
		var spark []string
		for i := range a.maps {
			spark = append(spark, sr.describeMap(&a.maps[i])...)
		}
		spark = append(spark, sr.describePod("driver", a.driver)...)
		diff(t, "cluster mode", fixture, spark)
	})

	t.Run("executor map and Pod owned by the driver Pod", func(t *testing.T) {
		fx, err := sparkfixture.Create(ctx, kube, dyn, ns, sparkfixture.Spec{
			Name: "owned-executors", SparkVersion: version, NoSparkApplication: true, Executors: 1, DriverPhase: corev1.PodRunning,
		})
		if err != nil {
			t.Fatal(err)
		}
		fm, err := kube.CoreV1().ConfigMaps(ns).Get(ctx, fx.ExecutorConfMap, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		fp, err := kube.CoreV1().Pods(ns).Get(ctx, fx.ExecutorPods[0], metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		fr := ref{fx.DriverPod, fx.DriverUID, fx.ResourcePrefix, fx.AppID, fx.Name, version}
		o := seen.owned
		sr := ref{o.driver.Name, o.driver.UID, "", o.driver.Labels["spark-app-selector"], "owned-executors", version}
		diff(t, "executor map owned by the driver",
			append(fr.describeMap(fm), fr.describePod("executor", fp)...),
			append(sr.describeMap(&o.execMap), sr.describePod("executor", &o.execPod)...))
	})

	t.Run("ownerless executor map", func(t *testing.T) {
		fx, err := sparkfixture.Create(ctx, kube, dyn, ns, sparkfixture.Spec{
			Name: "static-executors", SparkVersion: version, NoSparkApplication: true, LegacyExecutorOwner: true,
		})
		if err != nil {
			t.Fatal(err)
		}
		fm, err := kube.CoreV1().ConfigMaps(ns).Get(ctx, fx.ExecutorConfMap, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		fr := ref{fx.DriverPod, fx.DriverUID, fx.ResourcePrefix, fx.AppID, fx.Name, version}
		m := seen.ownerless
		sr := ref{appID: m.Labels["spark-app-selector"], appName: "static-executors", version: version}
		diff(t, "ownerless executor map", fr.describeMap(fm), sr.describeMap(&m))
	})
}
