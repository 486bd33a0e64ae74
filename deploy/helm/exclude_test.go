package helm_test

import (
	"path/filepath"
	"testing"

	batchv1 "k8s.io/api/batch/v1"

	"github.com/sparkcm-hook/sparkcm-hook/internal/kubecluster"
	"github.com/sparkcm-hook/sparkcm-hook/internal/sparkfixture"
)

// The chart's excludeNamespaces reaches the CLI: the cluster-wide CronJob,
// run as its ServiceAccount, sweeps every namespace but the excluded one,
// which keeps every map although the ClusterRoleBinding would allow the
// deletes there.
func TestChartClusterWideSweepLeavesTheExcludedNamespacesAlone(t *testing.T) {
	c := cp.Get(t)
	ctx := testContext(t)
	release, swept, excluded := c.NewNamespace(t), c.NewNamespace(t), c.NewNamespace(t)
	objs := render(t, "sparkcm-hook", release, "clusterWide.enabled=true", "clusterWide.excludeNamespaces={"+excluded+"}", "sweep.olderThan=0s")
	cj := typed[batchv1.CronJob](t, one(t, objs, "CronJob"))
	apply(ctx, t, c.AdminConfig(), objs)
	admin := c.Clientset()
	gone, err := sparkfixture.Create(ctx, admin, c.Dynamic(), swept, sparkfixture.Spec{})
	if err != nil {
		t.Fatal(err)
	}
	kept, err := sparkfixture.Create(ctx, admin, c.Dynamic(), excluded, sparkfixture.Spec{})
	if err != nil {
		t.Fatal(err)
	}
	before := configMapUIDs(ctx, t, admin, excluded)
	saCfg, _ := serviceAccountClient(ctx, t, c, objs)
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := kubecluster.WriteKubeconfig(kubeconfig, saCfg, ""); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := runLikeCronJob(t, cj, kubeconfig); code != 0 {
		t.Fatalf("sweep exit %d, want 0", code)
	}
	left := configMapUIDs(ctx, t, admin, swept)
	for _, name := range gone.MapNames() {
		if _, ok := left[name]; ok {
			t.Errorf("%s/%s of a swept namespace is still there", swept, name)
		}
	}
	after := configMapUIDs(ctx, t, admin, excluded)
	for _, name := range kept.MapNames() {
		if after[name] == "" || after[name] != before[name] {
			t.Errorf("%s/%s of the excluded namespace was deleted or replaced", excluded, name)
		}
	}
}
