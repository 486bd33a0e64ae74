package kubecluster

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
)

// serverConcurrency is kube-apiserver's total concurrency limit for API
// Priority and Fairness: --max-requests-inflight (400) plus
// --max-mutating-requests-inflight (200), the defaults the test bed keeps.
const serverConcurrency = 600

// ThrottleServiceAccount makes the API server's own API Priority and
// Fairness throttle one identity: a PriorityLevelConfiguration that is
// granted seats seats, lends and borrows none, and rejects (429 with
// Retry-After) what does not fit, and a FlowSchema that puts every request
// of ServiceAccount ns/name, and nothing else, on it. It returns once the
// API server reports the level's limit. The objects are named after the
// account and stay until the control plane is thrown away.
func (c *ControlPlane) ThrottleServiceAccount(ctx context.Context, ns, name string, seats int) (string, error) {
	if seats < 1 {
		return "", fmt.Errorf("seats must be at least 1")
	}
	kube := c.Clientset()
	if err := ensureServiceAccount(ctx, kube, ns, name); err != nil {
		return "", err
	}
	levels, err := kube.FlowcontrolV1().PriorityLevelConfigurations().List(ctx, metav1.ListOptions{})
	if err != nil {
		return "", fmt.Errorf("list priority levels: %w", err)
	}
	level := "throttled-" + ns + "-" + name
	others := 0
	for _, pl := range levels.Items {
		if pl.Name != level && pl.Spec.Limited != nil && pl.Spec.Limited.NominalConcurrencyShares != nil {
			others += int(*pl.Spec.Limited.NominalConcurrencyShares)
		}
	}
	// NominalCL = ceil(ServerCL * shares / (others + shares)): the first
	// number of shares that yields exactly seats.
	shares := -1
	for s := 1; s < 100000; s++ {
		if n := int(math.Ceil(float64(serverConcurrency*s) / float64(others+s))); n == seats {
			shares = s
			break
		} else if n > seats {
			break
		}
	}
	if shares < 0 {
		return "", fmt.Errorf("no share of %d seats among %d shares can be exactly %d", serverConcurrency, others, seats)
	}
	pl := &flowcontrolv1.PriorityLevelConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: level},
		Spec: flowcontrolv1.PriorityLevelConfigurationSpec{
			Type: flowcontrolv1.PriorityLevelEnablementLimited,
			Limited: &flowcontrolv1.LimitedPriorityLevelConfiguration{
				NominalConcurrencyShares: ptr.To(int32(shares)),
				LendablePercent:          ptr.To(int32(0)),
				BorrowingLimitPercent:    ptr.To(int32(0)),
				LimitResponse:            flowcontrolv1.LimitResponse{Type: flowcontrolv1.LimitResponseTypeReject},
			},
		},
	}
	if _, err := kube.FlowcontrolV1().PriorityLevelConfigurations().Create(ctx, pl, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return "", fmt.Errorf("create priority level %s: %w", level, err)
	}
	fs := &flowcontrolv1.FlowSchema{
		ObjectMeta: metav1.ObjectMeta{Name: level},
		Spec: flowcontrolv1.FlowSchemaSpec{
			PriorityLevelConfiguration: flowcontrolv1.PriorityLevelConfigurationReference{Name: level},
			// Before the built-in "service-accounts" schema (9000).
			MatchingPrecedence:  100,
			DistinguisherMethod: &flowcontrolv1.FlowDistinguisherMethod{Type: flowcontrolv1.FlowDistinguisherMethodByUserType},
			Rules: []flowcontrolv1.PolicyRulesWithSubjects{{
				Subjects: []flowcontrolv1.Subject{{Kind: flowcontrolv1.SubjectKindServiceAccount, ServiceAccount: &flowcontrolv1.ServiceAccountSubject{Namespace: ns, Name: name}}},
				ResourceRules: []flowcontrolv1.ResourcePolicyRule{{
					Verbs: []string{"*"}, APIGroups: []string{"*"}, Resources: []string{"*"}, Namespaces: []string{"*"}, ClusterScope: true,
				}},
				NonResourceRules: []flowcontrolv1.NonResourcePolicyRule{{Verbs: []string{"*"}, NonResourceURLs: []string{"*"}}},
			}},
		},
	}
	if _, err := kube.FlowcontrolV1().FlowSchemas().Create(ctx, fs, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return "", fmt.Errorf("create flow schema %s: %w", level, err)
	}
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		n, err := c.Metric(ctx, "apiserver_flowcontrol_nominal_limit_seats", "priority_level", level)
		return err == nil && int(n) == seats, nil
	})
	if err != nil {
		return "", fmt.Errorf("priority level %s never reached %d seats: %w", level, seats, err)
	}
	return level, nil
}

// Metric reads one sample of a metric from the API server's /metrics: the
// sum of the samples whose label key has value (all samples with key "").
func (c *ControlPlane) Metric(ctx context.Context, name, key, value string) (float64, error) {
	raw, err := c.Clientset().Discovery().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return 0, fmt.Errorf("read /metrics: %w", err)
	}
	want := key + `="` + value + `"`
	sum, found := 0.0, false
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		if key != "" && !strings.Contains(line, want) {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			continue
		}
		sum, found = sum+v, true
	}
	if !found {
		return 0, fmt.Errorf("no sample of %s with %s", name, want)
	}
	return sum, nil
}
