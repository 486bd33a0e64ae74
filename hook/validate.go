package hook

import (
	"strings"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/sparkcm-hook/sparkcm-hook/hook/rule"
)

// ValidateNamespace checks a namespace name before any API call.
func ValidateNamespace(ns string) error {
	if ns == "" {
		return Usagef("namespace is empty")
	}
	if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
		return Usagef("invalid namespace %q: %s", ns, strings.Join(errs, "; "))
	}
	return nil
}

// ValidateObjectName checks a SparkApplication or Pod name (a DNS-1123
// subdomain, as the API server requires for both).
func ValidateObjectName(what, name string) error {
	if name == "" {
		return Usagef("%s is empty", what)
	}
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return Usagef("invalid %s %q: %s", what, name, strings.Join(errs, "; "))
	}
	return nil
}

// ValidateAppID checks a Spark application id: it is used as the value of
// the spark-app-selector label, so it must be a non-empty label value. That
// alone rules out every way to widen a selector (",", "!", "=", spaces, "*").
func ValidateAppID(id string) error {
	if id == "" {
		return Usagef("spark application id is empty")
	}
	if errs := validation.IsValidLabelValue(id); len(errs) > 0 {
		return Usagef("invalid spark application id %q: %s", id, strings.Join(errs, "; "))
	}
	return nil
}

// appSelector is the one label selector the tool builds from input. It is
// made through the typed Requirement API, never by string concatenation, and
// refuses anything but exactly one equality on spark-app-selector.
func appSelector(id string) (labels.Selector, error) {
	if err := ValidateAppID(id); err != nil {
		return nil, err
	}
	req, err := labels.NewRequirement(rule.LabelAppSelector, selection.Equals, []string{id})
	if err != nil {
		return nil, Usagef("spark application id %q: %v", id, err)
	}
	return labels.NewSelector().Add(*req), nil
}

// appsSelector matches Pods of any of the given application ids, each
// validated as appSelector does.
func appsSelector(ids []string) (labels.Selector, error) {
	for _, id := range ids {
		if err := ValidateAppID(id); err != nil {
			return nil, err
		}
	}
	req, err := labels.NewRequirement(rule.LabelAppSelector, selection.In, ids)
	if err != nil {
		return nil, Usagef("spark application ids %q: %v", ids, err)
	}
	return labels.NewSelector().Add(*req), nil
}

// driverSelector finds an application's driver Pod by its id.
func driverSelector(id string) (labels.Selector, error) {
	sel, err := appSelector(id)
	if err != nil {
		return nil, err
	}
	role, err := labels.NewRequirement(rule.LabelRole, selection.Equals, []string{rule.RoleDriver})
	if err != nil {
		return nil, err
	}
	return sel.Add(*role), nil
}
