package sparkfixture

import (
	"context"
	"fmt"
	"sync"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
)

// BulkOptions tune Bulk.
type BulkOptions struct {
	// Template is the Spec every application starts from (Name is used as a
	// base: each application gets "<base>-<8 random>"; default "spark-pi").
	// Bulk decides PodTemplate, Hadoop, Krb5 and NoExecutorMap itself.
	Template Spec
	// Workers create applications in parallel (default 32). Pass clients whose
	// rate limit allows it (kubecluster's AdminConfig does).
	Workers int
}

// Bulk leaves maps leftover maps in ns, five per finished application (driver
// conf, executor conf, pod template, Hadoop, krb5), the way benchmarks need
// them: maps/5 applications, plus one with fewer maps when maps is not a
// multiple of 5. It returns the applications in creation order; on the first
// error it stops and returns it.
func Bulk(ctx context.Context, kube kubernetes.Interface, dyn dynamic.Interface, ns string, maps int, opts BulkOptions) ([]*App, error) {
	if maps <= 0 {
		return nil, nil
	}
	if opts.Workers <= 0 {
		opts.Workers = 32
	}
	base := opts.Template.Name
	if base == "" {
		base = "spark-pi"
	}
	specs := make([]Spec, 0, (maps+4)/5)
	for left := maps; left > 0; left -= 5 {
		s := opts.Template
		s.Name = base + "-" + randomSuffix()
		s.Pre31 = false
		// Maps in the order of App.Maps; a short last application drops from the end.
		s.NoExecutorMap = left < 2
		s.PodTemplate = left >= 3
		s.Hadoop = left >= 4
		s.Krb5 = left >= 5
		specs = append(specs, s)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	apps := make([]*App, len(specs))
	jobs := make(chan int)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for range min(opts.Workers, len(specs)) {
		wg.Go(func() {
			for i := range jobs {
				app, err := Create(ctx, kube, dyn, ns, specs[i])
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("bulk application %d of %d: %w", i+1, len(specs), err)
					}
					mu.Unlock()
					cancel()
					continue
				}
				apps[i] = app
			}
		})
	}
feed:
	for i := range specs {
		select {
		case jobs <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("bulk: %w", err)
	}
	return apps, nil
}
