// Package kubecluster runs a real etcd, kube-apiserver and (optionally)
// kube-controller-manager on loopback, with RBAC, ServiceAccount tokens and the
// SparkApplication CRD, for tests, benchmarks and the demo; every process it
// starts dies with the process that started it.
package kubecluster
