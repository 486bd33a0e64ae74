// Package policy writes the admission policies that stop SparkApplications
// from leaving ConfigMaps behind at the source: a ValidatingAdmissionPolicy
// that warns about, audits or denies an application without a TTL or a
// retain bound, and optionally a MutatingAdmissionPolicy that gives one a
// default TTL. Both are CEL run by the API server itself: no webhook server
// to run or keep available. The package builds objects only; it reads no
// cluster.
package policy

import (
	"bytes"
	"fmt"
	"slices"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/sparkcm-hook/sparkcm-hook/hook/rule"
)

// Name is the name of every object the package writes (the mutating policy
// adds -default-ttl), so that re-applying replaces them.
const Name = "sparkcm-hook-spark-ttl"

// actions are the values of Options.Action, as --action spells them.
var actions = []string{"warn", "deny", "audit"}

// Options say what to enforce where.
type Options struct {
	// Action is warn, deny or audit (actions).
	Action string
	// Namespaces the policy applies in; empty means every namespace.
	Namespaces []string
	// DefaultTTL, when positive, adds a MutatingAdmissionPolicy that sets
	// spec.timeToLiveSeconds on a Kubeflow SparkApplication created without
	// one. Whole seconds only.
	DefaultTTL time.Duration
}

// Validate refuses what the objects could not say.
func (o Options) Validate() error {
	if !slices.Contains(actions, o.Action) {
		return fmt.Errorf("action %q: use one of warn, deny, audit", o.Action)
	}
	if o.DefaultTTL < 0 || o.DefaultTTL%time.Second != 0 {
		return fmt.Errorf("default TTL %s: must be a positive number of whole seconds", o.DefaultTTL)
	}
	return nil
}

const (
	kubeflowGroup = rule.KubeflowGroup
	apacheGroup   = rule.ApacheGroup
)

// The checks, one per operator. Each passes objects of the other group, so
// one policy covers both. An Apache application with the default retain
// policy (Never) releases its resources when it stops and passes.
const (
	kubeflowTTL = `request.resource.group != '` + kubeflowGroup + `' || (has(object.spec) && has(object.spec.timeToLiveSeconds))`
	apacheBound = `request.resource.group != '` + apacheGroup + `' || !has(object.spec) || !has(object.spec.applicationTolerations) ||
!has(object.spec.applicationTolerations.resourceRetainPolicy) || object.spec.applicationTolerations.resourceRetainPolicy == 'Never' ||
(has(object.spec.applicationTolerations.resourceRetainDurationMillis) && object.spec.applicationTolerations.resourceRetainDurationMillis >= 0) ||
(has(object.spec.applicationTolerations.ttlAfterStopMillis) && object.spec.applicationTolerations.ttlAfterStopMillis >= 0)`
)

// Objects returns the policies and their bindings, in the order to apply
// them.
func Objects(o Options) ([]runtime.Object, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	fail := admissionv1.Fail
	equivalent := admissionv1.Equivalent
	// CREATE only: an UPDATE check would also stop the operator's own
	// writes to an application made before the policy (finalizers, labels),
	// which could leave it stuck; and a new object is where the TTL is set.
	rules := func(groups ...string) *admissionv1.MatchResources {
		m := &admissionv1.MatchResources{MatchPolicy: &equivalent}
		for _, g := range groups {
			m.ResourceRules = append(m.ResourceRules, admissionv1.NamedRuleWithOperations{
				RuleWithOperations: admissionv1.RuleWithOperations{
					Operations: []admissionv1.OperationType{admissionv1.Create},
					Rule: admissionv1.Rule{
						APIGroups: []string{g}, APIVersions: []string{"*"}, Resources: []string{"sparkapplications"},
					},
				},
			})
		}
		return m
	}
	var selector *metav1.LabelSelector
	if len(o.Namespaces) > 0 {
		selector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
			Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpIn, Values: slices.Clone(o.Namespaces),
		}}}
	}
	invalid := metav1.StatusReasonInvalid
	vap := &admissionv1.ValidatingAdmissionPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "ValidatingAdmissionPolicy"},
		ObjectMeta: metav1.ObjectMeta{Name: Name},
		Spec: admissionv1.ValidatingAdmissionPolicySpec{
			FailurePolicy:    &fail,
			MatchConstraints: rules(kubeflowGroup, apacheGroup),
			Validations: []admissionv1.Validation{
				{
					Expression: kubeflowTTL,
					Message:    "SparkApplication has no spec.timeToLiveSeconds: it, its driver Pod and Spark's ConfigMaps stay after it finishes; set e.g. spec.timeToLiveSeconds: 3600",
					Reason:     &invalid,
				},
				{
					Expression: apacheBound,
					Message:    "SparkApplication retains its resources (resourceRetainPolicy Always or OnFailure) with neither resourceRetainDurationMillis nor ttlAfterStopMillis set: its driver Pod and ConfigMaps are never released; set e.g. spec.applicationTolerations.resourceRetainDurationMillis: 3600000",
					Reason:     &invalid,
				},
			},
		},
	}
	action := map[string]admissionv1.ValidationAction{"warn": admissionv1.Warn, "deny": admissionv1.Deny, "audit": admissionv1.Audit}[o.Action]
	vapb := &admissionv1.ValidatingAdmissionPolicyBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "ValidatingAdmissionPolicyBinding"},
		ObjectMeta: metav1.ObjectMeta{Name: Name},
		Spec: admissionv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        Name,
			ValidationActions: []admissionv1.ValidationAction{action},
			MatchResources:    &admissionv1.MatchResources{NamespaceSelector: selector},
		},
	}
	var out []runtime.Object
	if o.DefaultTTL > 0 {
		// Mutating admission runs before validating admission, so an
		// application that gets the default passes the check above.
		never := admissionv1.NeverReinvocationPolicy
		name := Name + "-default"
		mp := &admissionv1.MutatingAdmissionPolicy{
			TypeMeta:   metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "MutatingAdmissionPolicy"},
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: admissionv1.MutatingAdmissionPolicySpec{
				FailurePolicy:      &fail,
				ReinvocationPolicy: never,
				MatchConstraints:   rules(kubeflowGroup),
				MatchConditions: []admissionv1.MatchCondition{{
					Name: "no-ttl", Expression: `!has(object.spec) || !has(object.spec.timeToLiveSeconds)`,
				}},
				Mutations: []admissionv1.Mutation{{
					PatchType: admissionv1.PatchTypeApplyConfiguration,
					ApplyConfiguration: &admissionv1.ApplyConfiguration{
						Expression: fmt.Sprintf(`Object{spec: Object.spec{timeToLiveSeconds: %d}}`, int64(o.DefaultTTL/time.Second)),
					},
				}},
			},
		}
		mpb := &admissionv1.MutatingAdmissionPolicyBinding{
			TypeMeta:   metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "MutatingAdmissionPolicyBinding"},
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: admissionv1.MutatingAdmissionPolicyBindingSpec{
				PolicyName:     name,
				MatchResources: &admissionv1.MatchResources{NamespaceSelector: selector},
			},
		}
		out = append(out, mp, mpb)
	}
	return append(out, vap, vapb), nil
}

// YAML is Objects as one multi-document YAML stream for kubectl apply.
func YAML(o Options) ([]byte, error) {
	objs, err := Objects(o)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	for i, obj := range objs {
		u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
		if err != nil {
			return nil, fmt.Errorf("convert %T: %w", obj, err)
		}
		if md, ok := u["metadata"].(map[string]any); ok {
			delete(md, "creationTimestamp") // null on a new object; noise in a manifest
		}
		delete(u, "status")
		y, err := yaml.Marshal(u)
		if err != nil {
			return nil, fmt.Errorf("marshal %T: %w", obj, err)
		}
		if i > 0 {
			b.WriteString("---\n")
		}
		b.Write(y)
	}
	return b.Bytes(), nil
}
