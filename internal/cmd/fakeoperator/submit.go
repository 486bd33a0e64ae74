package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/sparkcm-hook/sparkcm-hook/internal/sparkfixture"
	"github.com/sparkcm-hook/sparkcm-hook/internal/sparksubmit"
)

// The operator's own identity: its ServiceAccount may do what Spark needs in
// every namespace, as the Spark Operator chart grants its controller.
const (
	operatorNamespace = "spark-operator"
	operatorAccount   = "spark-operator"
)

// Labels and names the Spark Operator sets (kubeflow/spark-operator,
// internal/controller/sparkapplication/submission.go).
const (
	labelMutated      = "sparkoperator.k8s.io/mutated-by-spark-operator"
	driverContainer   = "spark-kubernetes-driver"
	executorContainer = "spark-kubernetes-executor"
)

// submitted is what a real submission left: the driver Pod and the maps it
// owns.
type submitted struct {
	appID  string
	driver *corev1.Pod
	maps   []string
}

// install picks the Spark install for the application's spec.sparkVersion:
// the same major.minor if there is one, else the first.
func (f *fake) install(sparkVersion string) sparksubmit.Install {
	mm := func(v string) string {
		parts := strings.SplitN(v, ".", 3)
		if len(parts) < 2 {
			return v
		}
		return parts[0] + "." + parts[1]
	}
	for _, in := range f.spark {
		if mm(in.Version) == mm(sparkVersion) {
			return in
		}
	}
	return f.spark[0]
}

// submit does what the Spark Operator does for a new SparkApplication: real
// spark-submit in cluster mode with the application's settings, the
// operator's labels, and driver and executor pod templates that carry the
// owner reference to the SparkApplication (and, here, what the operator's
// webhook would add: sidecars and the user-supplied map volumes).
func (f *fake) submit(ctx context.Context, sa *unstructured.Unstructured, submissionID string) (*submitted, error) {
	ns, name := sa.GetNamespace(), sa.GetName()
	spec, _, _ := unstructured.NestedMap(sa.Object, "spec")
	driverSA, _, _ := unstructured.NestedString(spec, "driver", "serviceAccount")
	token, err := f.operatorIdentity(ctx, ns, driverSA)
	if err != nil {
		return nil, err
	}
	conf := submitConf(spec, name, sa.GetLabels(), submissionID)

	work, err := os.MkdirTemp("", "fakeoperator-"+submissionID+"-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	owner := metav1.OwnerReference{
		APIVersion: sparkfixture.SparkApplicationResource.GroupVersion().String(), Kind: "SparkApplication",
		Name: name, UID: sa.GetUID(), Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
	}
	if err := writePodTemplates(work, spec, owner, conf); err != nil {
		return nil, err
	}

	args, _, _ := unstructured.NestedStringSlice(spec, "arguments")
	str := func(path ...string) string { v, _, _ := unstructured.NestedString(spec, path...); return v }
	in := f.install(str("sparkVersion"))
	res, err := in.Submit(ctx, sparksubmit.Target{Host: f.host, Token: token}, sparksubmit.Submission{
		Namespace: ns,
		Name:      name,
		Class:     str("mainClass"),
		Resource:  str("mainApplicationFile"),
		Args:      args,
		Conf:      conf,
	})
	if err != nil {
		return nil, err
	}
	out, err := f.collect(ctx, ns, res.DriverPod, owner)
	if err != nil {
		return nil, err
	}
	out.appID = res.AppID
	f.log.Info("spark-submit done", "namespace", ns, "name", name, "spark", in.Version, "appId", res.AppID, "driver", out.driver.Name, "maps", out.maps)
	return out, nil
}

// operatorIdentity makes what the operator's chart installs before it can
// submit: the driver's ServiceAccount in the job namespace (without it the
// API server refuses the driver Pod) and the operator's own namespace; it
// returns the operator account's token spark-submit authenticates with.
func (f *fake) operatorIdentity(ctx context.Context, ns, driverSA string) (string, error) {
	if driverSA != "" {
		sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: driverSA}}
		if _, err := f.kube.CoreV1().ServiceAccounts(ns).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return "", fmt.Errorf("create driver serviceaccount: %w", err)
		}
	}
	opNS := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: operatorNamespace}}
	if _, err := f.kube.CoreV1().Namespaces().Create(ctx, opNS, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return "", fmt.Errorf("create namespace %s: %w", operatorNamespace, err)
	}
	return sparksubmit.SubmitToken(ctx, f.kube, operatorNamespace, operatorAccount, "")
}

// submitConf is the Spark configuration the operator derives from the
// application's spec: its sparkConf and hadoopConf, image, the driver pod's
// name, and for each role the labels (the application's own on the driver,
// the role's, and the operator's), annotations, cores and memory.
func submitConf(spec map[string]any, name string, appLabels map[string]string, submissionID string) map[string]string {
	str := func(path ...string) string { v, _, _ := unstructured.NestedString(spec, path...); return v }
	num := func(path ...string) (int64, bool) { v, ok, _ := unstructured.NestedInt64(spec, path...); return v, ok }
	strMap := func(path ...string) map[string]string {
		v, _, _ := unstructured.NestedStringMap(spec, path...)
		return v
	}
	conf := map[string]string{}
	for k, v := range strMap("sparkConf") {
		conf[k] = v
	}
	for k, v := range strMap("hadoopConf") {
		conf["spark.hadoop."+k] = v
	}
	if v := str("image"); v != "" {
		conf["spark.kubernetes.container.image"] = v
	}
	if v := str("imagePullPolicy"); v != "" {
		conf["spark.kubernetes.container.image.pullPolicy"] = v
	}
	conf["spark.kubernetes.driver.pod.name"] = name + "-driver"
	for _, role := range []string{"driver", "executor"} {
		labels := map[string]string{}
		if role == "driver" {
			for k, v := range appLabels {
				labels[k] = v
			}
		}
		for k, v := range strMap(role, "labels") {
			labels[k] = v
		}
		labels[sparkfixture.LabelOperatorAppName] = name
		labels[sparkfixture.LabelLaunchedByOperator] = "true"
		labels[sparkfixture.LabelSubmissionID] = submissionID
		labels[labelMutated] = "true"
		for k, v := range labels {
			conf["spark.kubernetes."+role+".label."+k] = v
		}
		for k, v := range strMap(role, "annotations") {
			conf["spark.kubernetes."+role+".annotation."+k] = v
		}
		if n, ok := num(role, "cores"); ok {
			conf["spark."+role+".cores"] = strconv.FormatInt(n, 10)
		}
		if v := str(role, "memory"); v != "" {
			conf["spark."+role+".memory"] = v
		}
	}
	if v := str("driver", "serviceAccount"); v != "" {
		conf["spark.kubernetes.authenticate.driver.serviceAccountName"] = v
	}
	if n, ok := num("executor", "instances"); ok {
		conf["spark.executor.instances"] = strconv.FormatInt(n, 10)
	}
	return conf
}

// writePodTemplates writes the driver and executor pod templates into dir
// and points conf at them.
func writePodTemplates(dir string, spec map[string]any, owner metav1.OwnerReference, conf map[string]string) error {
	driverTmpl, err := driverTemplate(spec, owner)
	if err != nil {
		return err
	}
	// The executor template's owner reference is no controller, as the
	// operator writes it; Spark ships this template in the
	// <prefix>-driver-podspec-conf-map map.
	execOwner := owner
	execOwner.Controller, execOwner.BlockOwnerDeletion = nil, nil
	execTmpl := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{OwnerReferences: []metav1.OwnerReference{execOwner}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: executorContainer}}},
	}
	for file, pod := range map[string]*corev1.Pod{"driver-pod-template.yaml": driverTmpl, "executor-pod-template.yaml": execTmpl} {
		b, err := json.Marshal(pod)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, file), b, 0o600); err != nil {
			return err
		}
	}
	conf["spark.kubernetes.driver.podTemplateFile"] = filepath.Join(dir, "driver-pod-template.yaml")
	conf["spark.kubernetes.driver.podTemplateContainerName"] = driverContainer
	conf["spark.kubernetes.executor.podTemplateFile"] = filepath.Join(dir, "executor-pod-template.yaml")
	conf["spark.kubernetes.executor.podTemplateContainerName"] = executorContainer
	return nil
}

// collect reads what spark-submit left: the driver Pod, owned by the
// application (set here the way the operator's webhook would if this Spark
// dropped the template's owner reference), and the maps the driver owns.
func (f *fake) collect(ctx context.Context, ns, driverPod string, owner metav1.OwnerReference) (*submitted, error) {
	driver, err := f.kube.CoreV1().Pods(ns).Get(ctx, driverPod, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("driver pod spark-submit reported: %w", err)
	}
	if !hasOwner(driver.OwnerReferences, owner.UID) {
		patch := fmt.Sprintf(`{"metadata":{"ownerReferences":[{"apiVersion":%q,"kind":"SparkApplication","name":%q,"uid":%q,"controller":true,"blockOwnerDeletion":true}]}}`,
			owner.APIVersion, owner.Name, owner.UID)
		if driver, err = f.kube.CoreV1().Pods(ns).Patch(ctx, driver.Name, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			return nil, fmt.Errorf("set the driver's owner: %w", err)
		}
	}
	maps, err := f.kube.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	out := &submitted{driver: driver}
	for _, m := range maps.Items {
		if hasOwner(m.OwnerReferences, driver.UID) {
			out.maps = append(out.maps, m.Name)
		}
	}
	sort.Strings(out.maps)
	return out, nil
}

// driverTemplate is the driver pod template: the owner reference, and what
// the operator's webhook adds to the driver Pod (sidecars, the user-supplied
// spark and Hadoop maps).
func driverTemplate(spec map[string]any, owner metav1.OwnerReference) (*corev1.Pod, error) {
	pod := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{OwnerReferences: []metav1.OwnerReference{owner}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: driverContainer}}},
	}
	if raw, ok, _ := unstructured.NestedSlice(spec, "driver", "sidecars"); ok {
		b, err := json.Marshal(raw)
		if err != nil {
			return nil, err
		}
		var sidecars []corev1.Container
		if err := json.Unmarshal(b, &sidecars); err != nil {
			return nil, fmt.Errorf("spec.driver.sidecars: %w", err)
		}
		pod.Spec.Containers = append(pod.Spec.Containers, sidecars...)
	}
	for _, m := range []struct{ field, volume, path string }{
		{"sparkConfigMap", sparkfixture.VolumeUserSparkConf, "/etc/spark/conf"},
		{"hadoopConfigMap", sparkfixture.VolumeUserHadoopConf, "/etc/hadoop/conf"},
	} {
		name, _, _ := unstructured.NestedString(spec, m.field)
		if name == "" {
			continue
		}
		pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: m.volume, VolumeSource: corev1.VolumeSource{
			ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: name}},
		}})
		c := &pod.Spec.Containers[0]
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: m.volume, MountPath: m.path})
	}
	return pod, nil
}

func hasOwner(refs []metav1.OwnerReference, uid types.UID) bool {
	for _, r := range refs {
		if r.UID == uid {
			return true
		}
	}
	return false
}
