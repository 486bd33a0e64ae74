package sparksubmit_test

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"

	"github.com/sparkcm-hook/sparkcm-hook/internal/apachefixture"
	"github.com/sparkcm-hook/sparkcm-hook/internal/kubecluster"
	"github.com/sparkcm-hook/sparkcm-hook/internal/sparksubmit"
)

// The Apache Spark Kubernetes Operator's stand-in with real Spark: the
// driver Pod's spec and the maps' data come from the real spark-submit,
// under the operator's names, labels and owners. The real binary keeps them
// while the application runs (exit 4), and deletes exactly them once it is
// ResourceReleased, its driver Pod deleted (no garbage collector here).
func TestApacheOperatorStandInWithRealSpark(t *testing.T) {
	needSpark(t)
	in := installs[0]
	c := kubecluster.ForTest(t, kubecluster.Options{ApacheCRD: true})
	ctx := ctxFor(t, 5*time.Minute)
	ns := c.NewNamespace(t)
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := kubecluster.WriteKubeconfig(kc, c.AdminConfig(), ns); err != nil {
		t.Fatal(err)
	}
	token, err := sparksubmit.SubmitToken(ctx, c.Clientset(), ns, "spark", ns)
	if err != nil {
		t.Fatal(err)
	}
	op := apachefixture.Operator{Kube: c.Clientset(), Dyn: dynamic.NewForConfigOrDie(c.AdminConfig()), Spark: &in, Host: c.Host(), Token: token}
	spec := apachefixture.Spec{Name: "pi", Hadoop: true, Krb5: true}
	if _, err := op.Create(ctx, ns, spec); err != nil {
		t.Fatal(err)
	}
	a, err := op.Launch(ctx, ns, "pi", 0, spec)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"pi-0-driver-podspec-conf-map", "pi-0-hadoop-config", "pi-0-krb5-file", "pi-0-spark-drv-conf-map"}
	if !slices.Equal(a.Maps, want) {
		t.Fatalf("maps %v, want %v", a.Maps, want)
	}
	// Spark's own data under the operator's names.
	for name, key := range map[string]string{"pi-0-spark-drv-conf-map": "spark.properties", "pi-0-krb5-file": "krb5.conf", "pi-0-hadoop-config": "core-site.xml"} {
		m, err := c.Clientset().CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := m.Data[key]; !ok {
			t.Errorf("%s has keys %v, want Spark's %s", name, keys(m.Data), key)
		}
	}
	if props := a.Driver.Spec.Containers[0]; !strings.Contains(strings.Join(props.Args, " "), "driver") {
		t.Errorf("the driver container runs %v, not Spark's driver", props.Args)
	}

	if err := apachefixture.SetPodPhase(ctx, op.Kube, ns, a.Driver.Name, corev1.PodRunning); err != nil {
		t.Fatal(err)
	}
	if err := op.Run(ctx, ns, "pi", 0); err != nil {
		t.Fatal(err)
	}
	if r := runHook(ctx, t, kc, "cleanup", "--spark-app", "pi"); r.code != 4 {
		t.Fatalf("while it runs: %v", r)
	}
	if err := op.Stop(ctx, a, corev1.PodSucceeded, true); err != nil {
		t.Fatal(err)
	}
	r := runHook(ctx, t, kc, "cleanup", "--spark-app", "pi")
	if r.code != 0 {
		t.Fatalf("once released: %v", r)
	}
	var deleted []string
	for _, e := range r.res.Deleted {
		deleted = append(deleted, e.Name)
	}
	slices.Sort(deleted)
	if !slices.Equal(deleted, want) {
		t.Fatalf("deleted %v, want %v\n%v", deleted, want, r)
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
