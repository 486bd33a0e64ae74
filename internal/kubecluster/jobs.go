package kubecluster

import (
	"context"
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// TriggerCronJob does what `kubectl create job --from=cronjob/NAME JOB` does:
// a Job from the CronJob's template, owned by it and marked as started by
// hand. The job controller (Options.Node) makes its Pod.
func TriggerCronJob(ctx context.Context, kube kubernetes.Interface, ns, cronJob, job string) (*batchv1.Job, error) {
	cj, err := kube.BatchV1().CronJobs(ns).Get(ctx, cronJob, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("get cronjob %s/%s: %w", ns, cronJob, err)
	}
	annotations := map[string]string{"cronjob.kubernetes.io/instantiate": "manual"}
	for k, v := range cj.Spec.JobTemplate.Annotations {
		annotations[k] = v
	}
	j := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name:        job,
			Namespace:   ns,
			Labels:      cj.Spec.JobTemplate.Labels,
			Annotations: annotations,
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "batch/v1", Kind: "CronJob", Name: cj.Name, UID: cj.UID, Controller: ptr.To(true),
			}},
		},
		Spec: cj.Spec.JobTemplate.Spec,
	}
	created, err := kube.BatchV1().Jobs(ns).Create(ctx, j, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("create job %s/%s: %w", ns, job, err)
	}
	return created, nil
}

// WaitForJob waits up to timeout until the Job is Complete or Failed and
// returns which, with the Pods it made.
func WaitForJob(ctx context.Context, kube kubernetes.Interface, job *batchv1.Job, timeout time.Duration) (batchv1.JobConditionType, []corev1.Pod, error) {
	var result batchv1.JobConditionType
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		j, err := kube.BatchV1().Jobs(job.Namespace).Get(ctx, job.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, c := range j.Status.Conditions {
			if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
				result = c.Type
				return true, nil
			}
		}
		return false, nil
	})
	pods, lerr := kube.CoreV1().Pods(job.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "batch.kubernetes.io/job-name=" + job.Name})
	if lerr != nil {
		return "", nil, fmt.Errorf("list pods of job %s/%s: %w", job.Namespace, job.Name, lerr)
	}
	if err != nil {
		return "", pods.Items, fmt.Errorf("job %s/%s did not finish: %w", job.Namespace, job.Name, err)
	}
	return result, pods.Items, nil
}
