package rbac

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
	"github.com/sparkcm-hook/sparkcm-hook/hook/kube"
)

// PreflightOptions say which command is about to run, and where.
type PreflightOptions struct {
	Command string // hook.CommandCleanup, CommandSweep or CommandWatch
	// Namespace the command runs in; "" for a sweep of all namespaces.
	Namespace string
	Retry     hook.RetryPolicy
}

// Check is one access the command needs and the API server's answer.
type Check struct {
	hook.Access
	Review
}

// Preflight is what the caller may and may not do for one command.
type Preflight struct {
	Command   string   `json:"command"`
	Namespace string   `json:"namespace"`
	User      string   `json:"user"`
	Groups    []string `json:"groups"`
	Checks    []Check  `json:"checks"`
	// Missing are the rules the caller lacks (optional access excluded);
	// Manifest is a Role and RoleBinding (a ClusterRole and
	// ClusterRoleBinding for all namespaces) granting exactly them to the
	// caller, empty when nothing is missing.
	Missing  []rbacv1.PolicyRule `json:"missing"`
	Manifest string              `json:"manifest,omitempty"`
}

// DeniedError is returned when the preflight found required access
// missing. It wraps a *hook.ForbiddenError (the first missing verb), so the
// command exits 3.
type DeniedError struct {
	Preflight *Preflight
	Forbidden *hook.ForbiddenError
}

func (e *DeniedError) Error() string {
	n := 0
	for _, c := range e.Preflight.Checks {
		if !c.Allowed && !c.Optional {
			n++
		}
	}
	return fmt.Sprintf("preflight for %s: %s lacks %d verb(s), first: %s %s; the Role and RoleBinding printed on stdout grant exactly those",
		e.Preflight.Command, e.Forbidden.User, n, e.Forbidden.Verb, kube.ResourceName(e.Forbidden.Group, e.Forbidden.Resource))
}

func (e *DeniedError) Unwrap() error { return e.Forbidden }

// RunPreflight asks the API server, one SelfSubjectAccessReview per verb,
// whether the caller may do what the command needs, and learns the caller's
// identity from a SelfSubjectReview. It creates nothing else. When required
// access is missing it returns the Preflight and a *DeniedError.
func RunPreflight(ctx context.Context, kc kube.Interface, log *slog.Logger, o PreflightOptions) (*Preflight, error) {
	need := hook.PermissionsFor(o.Command)
	if need == nil {
		return nil, hook.Usagef("no command %q to check: one of %s|%s", o.Command, strings.Join(hook.Commands(), "|"), hook.CommandAll)
	}
	p := &Preflight{Command: o.Command, Namespace: o.Namespace}
	p.User, p.Groups = whoAmI(ctx, kc, log, o.Retry)
	served := map[string]bool{}
	for _, a := range need {
		if a.WhenServed {
			ok, seen := served[a.Group]
			if !seen {
				var err error
				if ok, err = hook.GroupServed(ctx, kc.Discovery(), a.Group); err != nil {
					// Unknown: ask, rather than pass over what may be needed.
					log.Warn("cannot tell whether the API server serves the group; checking its verbs anyway", "group", a.Group, "err", err)
					ok = true
				}
				served[a.Group] = ok
			}
			if !ok {
				continue // the group is not served: nothing of it to read
			}
		}
		req := Request{Verb: a.Verb, Group: a.Group, Resource: a.Resource, Namespace: o.Namespace}
		if a.Resource == "namespaces" {
			if o.Namespace == "" {
				continue // a sweep of all namespaces never reads one Namespace
			}
			// GET /api/v1/namespaces/NS is authorized with namespace NS.
			req.Name = o.Namespace
		}
		rev, err := SelfSubjectAccessReview(ctx, kc, log, o.Retry, req)
		if err != nil {
			return nil, err
		}
		p.Checks = append(p.Checks, Check{Access: a, Review: rev})
	}
	if o.Namespace == "" && (o.Command == hook.CommandSweep || o.Command == hook.CommandReport || o.Command == hook.CommandController || o.Command == hook.CommandAll) {
		c, err := listNamespacesCheck(ctx, kc, log, o.Retry, p.Checks)
		if err != nil {
			return nil, err
		}
		p.Checks = append(p.Checks, c)
	}
	var missing []hook.Access
	for _, c := range p.Checks {
		if !c.Allowed && !c.Optional {
			missing = append(missing, c.Access)
		}
	}
	if len(missing) == 0 {
		return p, nil
	}
	p.Missing = hook.RulesFor(func(hook.Access) bool { return true }, missing)
	manifest, err := p.manifest()
	if err != nil {
		return nil, err
	}
	p.Manifest = manifest
	first := missing[0]
	return p, &DeniedError{Preflight: p, Forbidden: &hook.ForbiddenError{
		User: p.User, Verb: first.Verb, Group: first.Group, Resource: first.Resource, Namespace: o.Namespace,
	}}
}

// listNamespaces is what sweep -A needs besides the table's verbs when it
// may not read cluster-wide: it then sweeps namespace by namespace, and
// lists the Namespaces to find them.
var listNamespaces = hook.Access{Group: "", Resource: "namespaces", Verb: "list", Commands: []string{hook.CommandSweep, hook.CommandReport},
	Why: "sweep -A where a cluster-wide read is refused: find the namespaces to sweep one by one"}

// listNamespacesCheck asks whether the caller may list Namespaces. It is
// required when any required verb is refused cluster-wide (sweep -A then
// goes namespace by namespace, and can start only by listing them), and
// optional when every one is allowed cluster-wide (one pass, no list of
// namespaces).
func listNamespacesCheck(ctx context.Context, kc kube.Interface, log *slog.Logger, retry hook.RetryPolicy, clusterWide []Check) (Check, error) {
	a := listNamespaces
	a.Optional = true
	for _, c := range clusterWide {
		if !c.Allowed && !c.Optional {
			a.Optional = false
		}
	}
	if a.Optional {
		a.Why = "sweep -A, only where a cluster-wide read is refused (every one is allowed here)"
	}
	rev, err := SelfSubjectAccessReview(ctx, kc, log, retry, Request{Verb: a.Verb, Group: a.Group, Resource: a.Resource})
	if err != nil {
		return Check{}, err
	}
	return Check{Access: a, Review: rev}, nil
}

// whoAmI is the caller's user and groups from a SelfSubjectReview; on
// failure the manifest names a placeholder to fill in.
func whoAmI(ctx context.Context, kc kube.Interface, log *slog.Logger, retry hook.RetryPolicy) (string, []string) {
	var out *authenticationv1.SelfSubjectReview
	err := kube.Retry(ctx, log, retry, "create selfsubjectreview", func(ctx context.Context) error {
		var err error
		out, err = kc.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
		return err
	})
	if err != nil {
		log.Warn("could not learn the caller's identity (SelfSubjectReview); the manifest names a placeholder", "err", err)
		return UnknownUser, nil
	}
	return out.Status.UserInfo.Username, out.Status.UserInfo.Groups
}

// UnknownUser stands in the manifest when the identity is unknown.
const UnknownUser = "REPLACE-WITH-YOUR-USER"

// subject is the RBAC subject for the caller: its ServiceAccount, else its
// user name.
func (p *Preflight) subject() rbacv1.Subject {
	if ns, name, ok := ParseServiceAccountUser(p.User); ok {
		return rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: ns}
	}
	return rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: p.User}
}

// manifest is the Role and RoleBinding (ClusterRole and ClusterRoleBinding
// for all namespaces) that grant exactly the missing rules to the caller.
func (p *Preflight) manifest() (string, error) {
	name := "sparkcm-hook-" + p.Command
	labels := map[string]string{"app.kubernetes.io/name": "sparkcm-hook", "app.kubernetes.io/component": "preflight"}
	var objs []any
	if p.Namespace == "" {
		name = name + "-" + sanitize(p.User)
		objs = append(objs,
			&rbacv1.ClusterRole{TypeMeta: metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRole"},
				ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Rules: p.Missing},
			&rbacv1.ClusterRoleBinding{TypeMeta: metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRoleBinding"},
				ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
				RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name},
				Subjects:   []rbacv1.Subject{p.subject()}})
	} else {
		objs = append(objs,
			&rbacv1.Role{TypeMeta: metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "Role"},
				ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: p.Namespace, Labels: labels}, Rules: p.Missing},
			&rbacv1.RoleBinding{TypeMeta: metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "RoleBinding"},
				ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: p.Namespace, Labels: labels},
				RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
				Subjects:   []rbacv1.Subject{p.subject()}})
	}
	var b strings.Builder
	for _, o := range objs {
		y, err := yaml.Marshal(o)
		if err != nil {
			return "", fmt.Errorf("render manifest: %w", err)
		}
		// creationTimestamp: null is noise in a manifest to apply.
		b.WriteString("---\n")
		for _, line := range strings.SplitAfter(string(y), "\n") {
			if strings.TrimSpace(line) != "creationTimestamp: null" {
				b.WriteString(line)
			}
		}
	}
	return b.String(), nil
}

// sanitize makes a user name usable in an object name.
func sanitize(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r == '-' || r == '.' {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	out := strings.Trim(b.String(), "-.")
	if len(out) > 200 {
		out = out[:200]
	}
	return out
}

// Denied lists the required checks that were refused.
func (p *Preflight) Denied() []Check {
	return slices.DeleteFunc(slices.Clone(p.Checks), func(c Check) bool { return c.Allowed || c.Optional })
}
