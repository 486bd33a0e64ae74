package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"github.com/sparkcm-hook/sparkcm-hook/internal/apachefixture"
	"github.com/sparkcm-hook/sparkcm-hook/internal/kubecluster"
)

// apacheStep shows the Apache Spark Kubernetes Operator's leak and its
// cure in a namespace of its own: an application that finished under
// resourceRetainPolicy Always with no retain duration (the operator keeps
// its driver Pod and maps for as long as the application exists), one that
// still runs, and one whose retain duration has not passed. The sweep
// deletes the first one's maps only, and says why each of the others stays.
func apacheStep(ctx context.Context, cp *kubecluster.ControlPlane, bin string, stdout, stderr io.Writer, say func(string, ...any)) error {
	const ns = "apache-jobs"
	say("the Apache Spark Kubernetes Operator (spark.apache.org) in namespace %s: one finished and retained forever, one running, one retained for an hour", ns)
	dir, err := namespaceWithKubeconfig(ctx, cp, ns)
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	kc := filepath.Join(dir, "kubeconfig")
	op := apachefixture.Operator{Kube: cp.Clientset(), Dyn: cp.Dynamic()}
	launch := func(spec apachefixture.Spec) (*apachefixture.Attempt, error) {
		if _, err := op.Create(ctx, ns, spec); err != nil {
			return nil, err
		}
		return op.Launch(ctx, ns, spec.Name, 0, spec)
	}
	forever, err := launch(apachefixture.Spec{Name: "nightly-etl", RetainPolicy: "Always", Hadoop: true})
	if err != nil {
		return err
	}
	running, err := launch(apachefixture.Spec{Name: "streaming"})
	if err != nil {
		return err
	}
	timed, err := launch(apachefixture.Spec{Name: "hourly", RetainPolicy: "Always", TTLAfterStopMillis: ptr.To(int64(3600 * 1000))})
	if err != nil {
		return err
	}
	for _, a := range []*apachefixture.Attempt{forever, timed} {
		if err := op.Stop(ctx, a, corev1.PodSucceeded, false); err != nil {
			return err
		}
		// Finished ten minutes ago, by the operator's clock.
		if err := op.SetStateAt(ctx, ns, a.AppName, a.ID, apachefixture.TerminatedWithoutReleaseResources, time.Now().Add(-10*time.Minute)); err != nil {
			return err
		}
	}
	if err := apachefixture.SetPodPhase(ctx, op.Kube, ns, running.Driver.Name, corev1.PodRunning); err != nil {
		return err
	}
	if err := op.Run(ctx, ns, running.AppName, 0); err != nil {
		return err
	}
	say("sweep -n %s --older-than 0s", ns)
	swept, err := runHook(ctx, bin, kc, stderr, "sweep", "--older-than", "0s", "-o", "json")
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nThe Apache Spark Kubernetes Operator (namespace %s)\n", ns)
	for _, e := range swept.res.Deleted {
		fmt.Fprintf(stdout, "  deleted %-40s %s\n", e.Name, e.Reason)
	}
	for _, e := range swept.res.Skipped {
		fmt.Fprintf(stdout, "  kept    %-40s %s\n", e.Name, e.Reason)
	}
	if len(swept.res.Deleted) != len(forever.Maps) || len(swept.res.Skipped) != len(running.Maps)+len(timed.Maps) {
		return fmt.Errorf("apache step: deleted %d and kept %d maps, want %d and %d", len(swept.res.Deleted), len(swept.res.Skipped), len(forever.Maps), len(running.Maps)+len(timed.Maps))
	}
	return nil
}
