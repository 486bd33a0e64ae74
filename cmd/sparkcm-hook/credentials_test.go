package main

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/sparkcm-hook/sparkcm-hook/internal/exitcode"
	"github.com/sparkcm-hook/sparkcm-hook/internal/sparkfixture"
)

// Credentials the API server does not accept, and a kubeconfig that points
// nowhere: one clear line, the documented exit code, nothing deleted.
func TestBadCredentialsAndAnUnreachableServerAreOneLineTheDocumentedExitAndDeleteNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a control plane")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ns := cp.NewNamespace(t)
	app := newApp(t, ns, sparkfixture.Spec{PodTemplate: true})
	kube, _ := clients(t)
	if _, err := kube.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "janitor-" + ns},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "cluster-admin"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "janitor", Namespace: ns}, {Kind: "ServiceAccount", Name: "revoked", Namespace: ns}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	valid, err := cp.Get(t).ServiceAccountConfig(ctx, ns, "janitor")
	if err != nil {
		t.Fatal(err)
	}
	sa, err := kube.CoreV1().ServiceAccounts(ns).Get(ctx, "janitor", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	withToken := func(token string) *rest.Config {
		c := rest.CopyConfig(valid)
		c.BearerToken = token
		return c
	}
	// The minted tokens are the API server's own kind: one still valid is
	// accepted, which proves that the expired one fails for its expiry.
	fresh, err := cp.Get(t).MintServiceAccountToken(ns, "janitor", sa.UID, time.Now().Add(-time.Minute), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if r := runCLI(t, "cleanup", "--kubeconfig", kubeconfig(t, withToken(fresh), ns), "--spark-app", app.Name, "--dry-run"); r.code != 0 {
		t.Fatalf("a freshly minted token was refused: exit %d %s", r.code, r.stderr)
	}
	expired, err := cp.Get(t).MintServiceAccountToken(ns, "janitor", sa.UID, time.Now().Add(-2*time.Hour), time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	// Revoked: the account the token was issued for is deleted (and made
	// again, with another UID).
	revokedCfg, err := cp.Get(t).ServiceAccountConfig(ctx, ns, "revoked")
	if err != nil {
		t.Fatal(err)
	}
	if err := kube.CoreV1().ServiceAccounts(ns).Delete(ctx, "revoked", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := kube.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "revoked"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	nowhere := rest.CopyConfig(valid)
	nowhere.Host = "https://127.0.0.1:1"
	cases := []struct {
		name string
		cfg  *rest.Config
		code int
		says string
	}{
		{"expired token", withToken(expired), exitcode.Forbidden, "unauthorized"},
		{"revoked token", revokedCfg, exitcode.Forbidden, "unauthorized"},
		{"malformed token", withToken("not-a-token"), exitcode.Forbidden, "unauthorized"},
		{"kubeconfig pointing nowhere", nowhere, exitcode.Failed, "127.0.0.1:1"},
	}
	before := mapCount(t, ns)
	for _, c := range cases {
		kc := kubeconfig(t, c.cfg, ns)
		for _, args := range [][]string{
			{"cleanup", "--kubeconfig", kc, "--spark-app", app.Name, "--timeout", "3s"},
			{"sweep", "--kubeconfig", kc, "--older-than", "0s", "--retry-budget", "3s"},
			{"watch", "--kubeconfig", kc, "--pod", app.DriverPod, "--timeout", "3s", "--grace", "1s"},
		} {
			t.Run(c.name+"/"+args[0], func(t *testing.T) {
				r := runCLI(t, args...)
				if r.code != c.code {
					t.Fatalf("exit %d, want %d; stderr %q", r.code, c.code, r.stderr)
				}
				// Logs may come first on stderr; the error is its last line,
				// and the only one.
				lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
				if last := lines[len(lines)-1]; !strings.HasPrefix(last, "error: ") || strings.Count("\n"+r.stderr, "\nerror: ") != 1 {
					t.Errorf("stderr does not end in one error line: %q", r.stderr)
				}
				if !strings.Contains(r.stderr, c.says) {
					t.Errorf("stderr %q does not say %q", r.stderr, c.says)
				}
				if mapCount(t, ns) != before {
					t.Fatal("maps were deleted")
				}
			})
		}
	}
}
