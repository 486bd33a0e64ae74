package kubecluster

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
)

// CompactEtcd compacts etcd at its current revision, as the API server
// itself does every --etcd-compaction-interval: continue tokens and watches
// from before it then get 410 Gone / Expired from the API server. It talks
// to etcd's own JSON gateway, so no etcd client library is needed.
func (c *ControlPlane) CompactEtcd(ctx context.Context) error {
	var rangeResp struct {
		Header struct {
			Revision string `json:"revision"`
		} `json:"header"`
	}
	// Any key: the answer's header carries the current revision.
	if err := c.etcdCall(ctx, "/v3/kv/range", map[string]any{"key": "Lw=="}, &rangeResp); err != nil {
		return err
	}
	rev, err := strconv.ParseInt(rangeResp.Header.Revision, 10, 64)
	if err != nil {
		return fmt.Errorf("etcd revision %q: %w", rangeResp.Header.Revision, err)
	}
	return c.etcdCall(ctx, "/v3/kv/compaction", map[string]any{"revision": rev, "physical": true}, nil)
}

func (c *ControlPlane) etcdCall(ctx context.Context, path string, body, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.etcdURL+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("etcd %s: %w", path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("etcd %s: %s", path, resp.Status)
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}
