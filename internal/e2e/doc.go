// Package e2e holds the end-to-end tests that run on a real node (kubecluster
// Options.Node): the chart's CronJob Pod, the watch sidecar beside a driver,
// and cleanup and sweep of applications whose Pods the kubelet ran.
package e2e
