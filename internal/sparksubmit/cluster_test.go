package sparksubmit_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sparkcm-hook/sparkcm-hook/internal/sparkfixture"
	"github.com/sparkcm-hook/sparkcm-hook/internal/sparksubmit"
)

// clusterApp is one application spark-submit made, captured before any
// cleanup.
type clusterApp struct {
	sub    *sparksubmit.Submitted
	driver *corev1.Pod
	maps   []corev1.ConfigMap
}

// Files a cluster-mode submission ships into the maps it makes.
const (
	coreSite = `<?xml version="1.0"?>
<configuration><property><name>fs.defaultFS</name><value>hdfs://namenode.hadoop.svc:8020</value></property></configuration>
`
	hdfsSite = `<?xml version="1.0"?>
<configuration><property><name>dfs.replication</name><value>3</value></property></configuration>
`
	krb5Conf = `[libdefaults]
  default_realm = EXAMPLE.COM
`
	executorTemplate = `apiVersion: v1
kind: Pod
metadata:
  labels:
    team: data-platform
spec:
  containers:
  - name: spark-kubernetes-executor
`
)

var (
	driverMapName = regexp.MustCompile(`^spark-drv-[0-9a-f]{16}-conf-map$`)
	execMapName   = regexp.MustCompile(`^spark-exec-[0-9a-f]{16}-conf-map$`)
)

// submitCluster submits one application per name, with an executor pod
// template, HADOOP_CONF_DIR and a krb5.conf, two at a time (a JVM start is
// mostly CPU; more at once only queue on 2 cores).
func submitCluster(ctx context.Context, t *testing.T, in sparksubmit.Install, ns namespace, appNames ...string) map[string]*clusterApp {
	t.Helper()
	dir := t.TempDir()
	hadoop := filepath.Join(dir, "hadoop")
	files := map[string]string{
		filepath.Join(hadoop, "core-site.xml"):  coreSite,
		filepath.Join(hadoop, "hdfs-site.xml"):  hdfsSite,
		filepath.Join(dir, "krb5.conf"):         krb5Conf,
		filepath.Join(dir, "executor-pod.yaml"): executorTemplate,
	}
	if err := os.Mkdir(hadoop, 0o755); err != nil {
		t.Fatal(err)
	}
	for path, content := range files {
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	apps := map[string]*clusterApp{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	slots := make(chan struct{}, 2)
	for _, name := range appNames {
		wg.Go(func() {
			slots <- struct{}{}
			defer func() { <-slots }()
			sub, err := in.Submit(ctx, ns.target, sparksubmit.Submission{
				Namespace:     ns.name,
				Name:          name,
				HadoopConfDir: hadoop,
				Conf: map[string]string{
					"spark.kubernetes.executor.podTemplateFile": filepath.Join(dir, "executor-pod.yaml"),
					"spark.kubernetes.kerberos.krb5.path":       filepath.Join(dir, "krb5.conf"),
				},
			})
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			apps[name] = &clusterApp{sub: sub}
			mu.Unlock()
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	for _, a := range apps {
		driver, err := cp.Clientset().CoreV1().Pods(ns.name).Get(ctx, a.sub.DriverPod, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("driver Pod spark-submit reported: %v", err)
		}
		a.driver = driver
		a.maps = ownedMaps(ctx, t, ns.name, driver)
	}
	return apps
}

// The four driver-side maps, as real spark-submit makes them in cluster mode,
// each deleted by every way sparkcm-hook is run once the driver has ended -
// exactly those, and nothing else in the namespace.
func clusterMode(t *testing.T, in sparksubmit.Install, seen *observed) {
	ctx := ctxFor(t, 10*time.Minute)
	ns := newNamespace(t)
	kube := cp.Clientset()
	apps := submitCluster(ctx, t, in, ns, "by-driver-pod", "by-app-id", "by-sweep", "by-watch")
	seen.cluster = apps["by-driver-pod"]

	ok := t.Run("spark-submit leaves four unlabelled maps owned by the Pending driver Pod", func(t *testing.T) {
		for name, a := range apps {
			prefix := strings.TrimSuffix(a.driver.Name, "-driver")
			if a.driver.Labels["spark-app-selector"] != a.sub.AppID || a.driver.Labels["spark-role"] != "driver" {
				t.Errorf("%s: driver labels %v, app id %s", name, a.driver.Labels, a.sub.AppID)
			}
			if a.driver.Status.Phase != corev1.PodPending {
				t.Errorf("%s: driver phase %s, want Pending (no node)", name, a.driver.Status.Phase)
			}
			got := names(a.maps) // sorted: the prefix (the app name) sorts before "spark-drv-"
			if len(got) != 4 || got[0] != prefix+"-driver-podspec-conf-map" || got[1] != prefix+"-hadoop-config" ||
				got[2] != prefix+"-krb5-file" || !driverMapName.MatchString(got[3]) {
				t.Errorf("%s: maps owned by the driver %v", name, got)
			}
			for _, m := range a.maps {
				if len(m.Labels) != 0 {
					t.Errorf("%s: map %s labelled %v", name, m.Name, m.Labels)
				}
			}
		}
	})
	if !ok {
		return
	}

	// The driver of each application ends in turn; the others stay Pending
	// (live), so every run below must leave their maps alone.
	finish := func(t *testing.T, a *clusterApp, phase corev1.PodPhase) {
		t.Helper()
		if err := sparkfixture.SetPodPhase(ctx, kube, ns.name, a.driver.Name, phase); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("cleanup --driver-pod deletes exactly the application's maps once the driver Succeeded", func(t *testing.T) {
		a := apps["by-driver-pod"]
		finish(t, a, corev1.PodSucceeded)
		before := take(ctx, t, ns.name)
		r := runHook(ctx, t, ns.kubeconfig, "cleanup", "--driver-pod", a.driver.Name)
		if r.code != 0 {
			t.Fatal(r)
		}
		assertGone(t, before, take(ctx, t, ns.name), names(a.maps))
	})

	t.Run("cleanup --app-id deletes exactly the application's maps once the driver Failed", func(t *testing.T) {
		a := apps["by-app-id"]
		live := runHook(ctx, t, ns.kubeconfig, "cleanup", "--app-id", a.sub.AppID)
		if live.code != 4 || len(live.res.Deleted) != 0 {
			t.Errorf("while the driver is Pending: want exit 4 and nothing deleted\n%s", live)
		}
		finish(t, a, corev1.PodFailed)
		before := take(ctx, t, ns.name)
		r := runHook(ctx, t, ns.kubeconfig, "cleanup", "--app-id", a.sub.AppID)
		if r.code != 0 {
			t.Fatal(r)
		}
		assertGone(t, before, take(ctx, t, ns.name), names(a.maps))
	})

	t.Run("sweep deletes exactly the finished application's maps and keeps the Pending ones", func(t *testing.T) {
		a := apps["by-sweep"]
		finish(t, a, corev1.PodSucceeded)
		ageBeyond(time.Second)
		before := take(ctx, t, ns.name)
		r := runHook(ctx, t, ns.kubeconfig, "sweep", "-n", ns.name, "--older-than", "1s")
		if r.code != 0 {
			t.Fatal(r)
		}
		assertGone(t, before, take(ctx, t, ns.name), names(a.maps))
	})

	t.Run("watch deletes exactly the application's maps when the driver container ends", func(t *testing.T) {
		a := apps["by-watch"]
		before := take(ctx, t, ns.name)
		var stdout, stderr strings.Builder
		cmd := exec.CommandContext(ctx, hookBinary(t), "--kubeconfig", ns.kubeconfig, "watch", "-n", ns.name, "--pod", a.driver.Name, "-o", "json")
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			t.Fatalf("watch ended while the driver was Pending: %v\n%s", err, stderr.String())
		case <-time.After(2 * time.Second):
		}
		if after := take(ctx, t, ns.name); len(after) != len(before) {
			t.Fatal("watch deleted something while the driver was Pending")
		}
		// The snapshot is taken before the driver ends (watch acts at once);
		// the driver Pod's own status change is expected.
		before = take(ctx, t, ns.name)
		finish(t, a, corev1.PodSucceeded)
		ended, err := kube.CoreV1().Pods(ns.name).Get(ctx, a.driver.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		before["Pod/"+ended.Name] = object{uid: string(ended.UID), rv: ended.ResourceVersion}
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("watch: %v\nstdout: %s\nstderr: %s", err, stdout.String(), stderr.String())
			}
		case <-ctx.Done():
			t.Fatal("watch did not end after the driver did")
		}
		assertGone(t, before, take(ctx, t, ns.name), names(a.maps))
	})
}
