package kubecluster

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// MintServiceAccountToken signs a bound ServiceAccount token for ns/name
// (whose UID is uid) with the API server's own signing key, valid from
// issued until expires: what the TokenRequest API hands out, except that
// the test chooses the times, an expiry in the past included.
func (c *ControlPlane) MintServiceAccountToken(ns, name string, uid types.UID, issued, expires time.Time) (string, error) {
	block, _ := pem.Decode(c.pki.saSigningKey)
	if block == nil {
		return "", errors.New("no service account signing key")
	}
	key, err := x509.ParseECPrivateKey(block.Bytes)
	if err != nil {
		return "", fmt.Errorf("service account signing key: %w", err)
	}
	const issuer = "https://kubernetes.default.svc.cluster.local"
	header := map[string]string{"alg": "ES256", "typ": "JWT"}
	claims := map[string]any{
		"iss": issuer, "aud": []string{issuer}, "sub": "system:serviceaccount:" + ns + ":" + name,
		"iat": issued.Unix(), "nbf": issued.Unix(), "exp": expires.Unix(), "jti": randomSuffix(16),
		"kubernetes.io": map[string]any{"namespace": ns, "serviceaccount": map[string]any{"name": name, "uid": string(uid)}},
	}
	enc := func(v any) (string, error) {
		b, err := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b), err
	}
	h, err := enc(header)
	if err != nil {
		return "", err
	}
	p, err := enc(claims)
	if err != nil {
		return "", err
	}
	digest := sha256.Sum256([]byte(h + "." + p))
	r, s, err := ecdsa.Sign(rand.Reader, key, digest[:])
	if err != nil {
		return "", err
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return h + "." + p + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}
