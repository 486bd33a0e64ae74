package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sparkcm-hook/sparkcm-hook/internal/kubecluster"
	"github.com/sparkcm-hook/sparkcm-hook/internal/sparkfixture"
	"github.com/sparkcm-hook/sparkcm-hook/internal/sparksubmit"
)

// finished is the application an Airflow task has just run: the demo's
// cleanup targets its driver Pod.
type finished struct {
	driverPod string
	maps      []string // the maps its driver Pod owns
	by        string   // who made them
}

const justFinishedName = "daily-etl-a1b2c3d4"

// justFinished submits the application with the real spark-submit in cluster
// mode (an executor pod template and HADOOP_CONF_DIR, so Spark makes three
// maps) and marks its driver Pod Succeeded, as the kubelet would once the
// driver ended; there is no node here. Where Spark cannot run (no Java), it
// says why and internal/sparkfixture stands in.
func justFinished(ctx context.Context, cp *kubecluster.ControlPlane, ns string, say func(string, ...any)) (*finished, error) {
	kube := cp.Clientset()
	var in sparksubmit.Install
	pinned, err := sparksubmit.Pinned(ctx)
	if err == nil {
		var installs []sparksubmit.Install
		if installs, err = sparksubmit.Find(ctx, pinned[0]); err == nil {
			in = installs[0]
		}
	}
	var unavailable *sparksubmit.UnavailableError
	switch {
	case errors.As(err, &unavailable):
		say("real Spark cannot run here (%s); internal/sparkfixture makes %s's objects instead", unavailable.Reason, justFinishedName)
		// make test-clone runs this: its summary must count the fallback as the spark tier skipped.
		if err := kubecluster.RecordTierSkip("spark", "demo: "+unavailable.Reason); err != nil {
			return nil, err
		}
		app, err := sparkfixture.Create(ctx, kube, cp.Dynamic(), ns, sparkfixture.Spec{Name: justFinishedName, PodTemplate: true, Hadoop: true, NoSparkApplication: true})
		if err != nil {
			return nil, err
		}
		return &finished{driverPod: app.DriverPod, maps: app.MapNames(), by: "internal/sparkfixture (" + unavailable.Reason + ")"}, nil
	case err != nil:
		return nil, err
	}

	say("a real spark-submit (Spark %s, cluster mode) submits %s to the local API server", in.Version, justFinishedName)
	token, err := sparksubmit.SubmitToken(ctx, kube, ns, "spark", ns)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "sparkcm-demo-spark-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	files := map[string]string{
		"hadoop/core-site.xml": "<configuration><property><name>fs.defaultFS</name><value>hdfs://namenode:8020</value></property></configuration>\n",
		"executor-pod.yaml":    "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: spark-kubernetes-executor\n",
	}
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			return nil, err
		}
	}
	sub, err := in.Submit(ctx, sparksubmit.Target{Host: cp.Host(), Token: token}, sparksubmit.Submission{
		Namespace:     ns,
		Name:          justFinishedName,
		HadoopConfDir: filepath.Join(dir, "hadoop"),
		Conf:          map[string]string{"spark.kubernetes.executor.podTemplateFile": filepath.Join(dir, "executor-pod.yaml")},
	})
	if err != nil {
		return nil, err
	}
	driver, err := kube.CoreV1().Pods(ns).Get(ctx, sub.DriverPod, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	list, err := kube.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	f := &finished{driverPod: driver.Name, by: "spark-submit (Spark " + in.Version + ")"}
	for _, m := range list.Items {
		for _, r := range m.OwnerReferences {
			if r.UID == driver.UID {
				f.maps = append(f.maps, m.Name)
			}
		}
	}
	slices.Sort(f.maps)
	say("Spark made driver Pod %s and %d maps: %s", driver.Name, len(f.maps), strings.Join(f.maps, ", "))
	if err := sparkfixture.SetPodPhase(ctx, kube, ns, driver.Name, corev1.PodSucceeded); err != nil {
		return nil, err
	}
	return f, nil
}

// report says what the cleanup did with the application's maps.
func (f *finished) report(w io.Writer, cleanup *hookRun) {
	deleted := map[string]bool{}
	for _, e := range cleanup.res.Deleted {
		deleted[e.Name] = true
	}
	gone := 0
	for _, m := range f.maps {
		if deleted[m] {
			gone++
		}
	}
	exactly := "yes"
	if gone != len(f.maps) || len(deleted) != len(f.maps) {
		exactly = "NO"
	}
	fmt.Fprintf(w, "\nThe application that just finished, made by %s\n", f.by)
	fmt.Fprintf(w, "  driver Pod %s owns %d maps: %s\n", f.driverPod, len(f.maps), strings.Join(f.maps, ", "))
	fmt.Fprintf(w, "  cleanup --driver-pod deleted %d maps; exactly the application's: %s\n", len(deleted), exactly)
}
