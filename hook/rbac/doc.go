// Package rbac answers who may do what in a cluster from its roles and
// bindings, evaluated by the published rules of Kubernetes RBAC (implicit
// groups, system:masters, aggregated ClusterRoles, wildcards, "*/sub"
// subresources and resourceNames included), and checks those answers against
// the API server's own SubjectAccessReviews. It reads every kind with one
// paged LIST, takes its clients and a *slog.Logger, and never exits.
package rbac
