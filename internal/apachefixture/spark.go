package apachefixture

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/sparkcm-hook/sparkcm-hook/internal/sparksubmit"
)

// launchWithSpark makes the attempt's objects from what real Spark builds.
// The operator runs Spark's own driver builder in its JVM
// (SparkAppSubmissionWorker, KubernetesDriverBuilder) under its resource
// name prefix, the app id; spark-submit runs the same builder under a prefix
// of its own (<name>-<hex>) and an id of its own (spark-<hex>). So the real
// spark-submit submits the application with the operator's settings (its
// labels, the app id in spark.app.id, the Hadoop and krb5 files the spec
// asks for), and what it made is then given the operator's names: the
// driver Pod's spec and every map's data are Spark's, the names, labels and
// owners are the operator's. Spark's own objects are deleted again.
func (op Operator) launchWithSpark(ctx context.Context, a *Attempt, spec Spec, appOwner metav1.OwnerReference, labels map[string]string) (*Attempt, error) {
	ns := a.Namespace
	work, err := os.MkdirTemp("", "apachefixture-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	conf := map[string]string{
		"spark.app.id":                     a.AppID,
		"spark.kubernetes.driver.pod.name": a.AppID + "-submitted-driver",
	}
	for k, v := range labels {
		// Spark sets these itself and refuses them as user labels.
		if k != LabelAppSelector && k != LabelRole && k != LabelSparkVersion {
			conf["spark.kubernetes.driver.label."+k] = v
		}
	}
	// The application's executor template (spec.executorSpec.podTemplateSpec),
	// which Spark ships in <prefix>-driver-podspec-conf-map.
	tmpl := filepath.Join(work, "executor-pod-template.yaml")
	if err := os.WriteFile(tmpl, []byte("apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: executor\n"), 0o600); err != nil {
		return nil, err
	}
	conf["spark.kubernetes.executor.podTemplateFile"] = tmpl
	conf["spark.kubernetes.executor.podTemplateContainerName"] = "executor"
	sub := sparksubmit.Submission{Namespace: ns, Name: a.AppName, Conf: conf}
	if spec.Hadoop {
		dir := filepath.Join(work, "hadoop")
		if err := os.Mkdir(dir, 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(dir, "core-site.xml"), []byte("<configuration/>\n"), 0o600); err != nil {
			return nil, err
		}
		sub.HadoopConfDir = dir
	}
	if spec.Krb5 {
		path := filepath.Join(work, "krb5.conf")
		if err := os.WriteFile(path, []byte("[libdefaults]\n  default_realm = EXAMPLE.COM\n"), 0o600); err != nil {
			return nil, err
		}
		conf["spark.kubernetes.kerberos.krb5.path"] = path
	}
	res, err := op.Spark.Submit(ctx, sparksubmit.Target{Host: op.Host, Token: op.Token}, sub)
	if err != nil {
		return nil, err
	}
	submitted, err := op.Kube.CoreV1().Pods(ns).Get(ctx, res.DriverPod, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("the driver Pod spark-submit reported: %w", err)
	}
	list, err := op.Kube.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	// Spark's map names, and what the operator calls each.
	rename := map[string]string{}
	maps := map[string]map[string]string{}
	for _, m := range list.Items {
		if !ownedBy(m.OwnerReferences, submitted.UID) {
			continue
		}
		var to string
		switch {
		case strings.HasPrefix(m.Name, "spark-drv-") && strings.HasSuffix(m.Name, "-conf-map"):
			to = a.AppID + "-spark-drv-conf-map"
		case strings.HasSuffix(m.Name, "-driver-podspec-conf-map"):
			to = a.AppID + "-driver-podspec-conf-map"
		case strings.HasSuffix(m.Name, "-hadoop-config"):
			to = a.AppID + "-hadoop-config"
		case strings.HasSuffix(m.Name, "-krb5-file"):
			to = a.AppID + "-krb5-file"
		default:
			return nil, fmt.Errorf("spark-submit made map %s, which the stand-in has no operator name for", m.Name)
		}
		rename[m.Name] = to
		maps[to] = m.Data
	}
	if len(maps) == 0 {
		return nil, fmt.Errorf("spark-submit made no map owned by its driver Pod %s", submitted.Name)
	}
	podSpec := *submitted.Spec.DeepCopy()
	podSpec.NodeName = ""
	var vols []corev1.Volume
	for _, v := range podSpec.Volumes {
		if v.Projected != nil && strings.HasPrefix(v.Name, "kube-api-access-") {
			continue // the ServiceAccount admission adds its own to the new Pod
		}
		if v.ConfigMap != nil && rename[v.ConfigMap.Name] != "" {
			v.ConfigMap.Name = rename[v.ConfigMap.Name]
		}
		vols = append(vols, v)
	}
	podSpec.Volumes = vols
	for i := range podSpec.Containers {
		var mounts []corev1.VolumeMount
		for _, m := range podSpec.Containers[i].VolumeMounts {
			if !strings.HasPrefix(m.Name, "kube-api-access-") {
				mounts = append(mounts, m)
			}
		}
		podSpec.Containers[i].VolumeMounts = mounts
	}
	// Spark's labels (spark-role, spark-version, ...) with the operator's
	// id, and the operator's own.
	driverLabels := map[string]string{}
	for k, v := range submitted.Labels {
		driverLabels[k] = v
	}
	for k, v := range labels {
		if _, spark := driverLabels[k]; !spark || k == LabelAppSelector {
			driverLabels[k] = v // the operator's id; Spark's version stays
		}
	}
	// What spark-submit made under its own names goes: the operator makes
	// these objects once, under its names.
	gone := metav1.DeletePropagationBackground
	if err := op.Kube.CoreV1().Pods(ns).Delete(ctx, submitted.Name, metav1.DeleteOptions{
		Preconditions: &metav1.Preconditions{UID: &submitted.UID}, PropagationPolicy: &gone}); err != nil {
		return nil, fmt.Errorf("delete spark-submit's driver Pod: %w", err)
	}
	for from := range rename {
		if err := op.Kube.CoreV1().ConfigMaps(ns).Delete(ctx, from, metav1.DeleteOptions{}); err != nil {
			return nil, fmt.Errorf("delete spark-submit's map %s: %w", from, err)
		}
	}
	a.SparkAppID = res.AppID
	return op.create(ctx, a, podSpec, maps, appOwner, driverLabels)
}

func ownedBy(refs []metav1.OwnerReference, uid types.UID) bool {
	for _, r := range refs {
		if r.UID == uid {
			return true
		}
	}
	return false
}
