package rule

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/resourceversion"
)

// Mark is taken just before a sweep reads the owners (Pods and
// SparkApplications). An owner always exists before its maps, so a map
// last written before the mark has its owner in the owner lists unless
// that owner was deleted; a map written since may belong to an owner the
// lists missed, and must not be judged "owner gone".
type Mark struct {
	// RV is the ConfigMaps' resourceVersion at the mark (a list of one
	// item): resourceVersions of one resource are comparable.
	RV string
	// At is a lower bound of the server's time at the mark, used only
	// where resourceVersions do not compare (a storage that does not use
	// etcd's integers).
	At time.Time
}

// ChangedSince says whether a map was created or changed after the mark.
// When that cannot be told, the answer is yes: the map waits for a run
// whose owner lists surely hold its owner.
func (mk Mark) ChangedSince(m *metav1.ObjectMeta) bool {
	if cmp, err := resourceversion.CompareResourceVersion(m.ResourceVersion, mk.RV); err == nil {
		return cmp > 0
	}
	if mk.At.IsZero() {
		return true
	}
	// Creation stamps are whole seconds: a map of the mark's second may be
	// later than the mark.
	return !m.CreationTimestamp.Time.Before(mk.At.Truncate(time.Second))
}
