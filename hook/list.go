package hook

import (
	"context"
	"fmt"
	"log/slog"

	corev1 "k8s.io/api/core/v1"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/pager"

	"github.com/sparkcm-hook/sparkcm-hook/hook/kube"
)

// expiredRestarts bounds how often one list starts over after its continue
// token expired: each restart is a fresh, consistent list.
const expiredRestarts = 3

// listSpec says what one paged list reads and how to report it.
type listSpec struct {
	log                      *slog.Logger
	retry                    RetryPolicy
	ns                       string
	what, verb, group, resrc string
	pageSize                 int64
	// list reads one page; each sees every item once per pass; reset
	// forgets a pass that has to start over.
	list  func(context.Context, metav1.ListOptions) (runtime.Object, error)
	each  func(runtime.Object) error
	reset func()
}

// listPaged reads a list page by page. Each page request has its own retry
// budget, so a transient failure after minutes of listing a large cluster
// costs one retried page, not the run. A continue token that expired (410:
// the API server compacted the revision the list was reading) starts the
// list over from the first page, after reset, as a fresh consistent list;
// anything else that is final ends it.
func listPaged(ctx context.Context, s listSpec) error {
	for attempt := 0; ; attempt++ {
		if s.reset != nil {
			s.reset()
		}
		p := pager.New(func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			var obj runtime.Object
			err := kube.Retry(ctx, s.log, s.retry, s.what, func(ctx context.Context) error {
				var err error
				obj, err = s.list(ctx, opts)
				return err
			})
			return obj, err
		})
		if s.pageSize > 0 {
			p.PageSize = s.pageSize
		}
		// One page read ahead keeps the pipeline going; the default ten
		// would hold thousands of decoded objects at once.
		p.PageBufferSize = 1
		err := p.EachListItem(ctx, metav1.ListOptions{}, s.each)
		if err == nil {
			return nil
		}
		if kube.IsExpired(err) && attempt < expiredRestarts && ctx.Err() == nil {
			s.log.Info("list expired while paging; starting it over", "op", s.what, "attempt", attempt+1, "err", kube.OneLineErr(err))
			continue
		}
		if kube.IsNotFound(err) {
			return err
		}
		if fe := kube.AsForbidden(err, s.verb, s.group, s.resrc, s.ns); fe != err { //nolint:errorlint // identity: AsForbidden returns err itself unless it was a 403
			return fe
		}
		return fmt.Errorf("%s in namespace %s: %w", s.what, nsLabel(s.ns), err)
	}
}

// nonTerminatedPods is the field selector for Pods that may still use maps:
// the server filters out Succeeded and Failed ones, so a namespace full of
// finished Pods costs nothing to read.
var nonTerminatedPods = fields.AndSelectors(
	fields.OneTermNotEqualSelector("status.phase", string(corev1.PodSucceeded)),
	fields.OneTermNotEqualSelector("status.phase", string(corev1.PodFailed)),
).String()
