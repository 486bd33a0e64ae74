package hook

import (
	"context"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sparkcm-hook/sparkcm-hook/hook/kube"
	"github.com/sparkcm-hook/sparkcm-hook/hook/rule"
)

// markMaps reads the ConfigMaps' current resourceVersion with the
// cheapest list there is.
func (s *sweeper) markMaps(ctx context.Context, ns string) (rule.Mark, error) {
	local := time.Now()
	var rv string
	err := kube.CallAPI(ctx, s.log, s.o.Retry, ns, "list configmaps (snapshot mark)", "list", "", "configmaps", func(ctx context.Context) error {
		list, err := s.c.api().ListMaps(ctx, ns, metav1.ListOptions{Limit: 1})
		if err == nil {
			rv = list.ResourceVersion
		}
		return err
	})
	if err != nil {
		return rule.Mark{}, err
	}
	return rule.Mark{RV: rv, At: s.c.Clock.At(local)}, nil
}
