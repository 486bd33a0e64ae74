// Command image writes a container image holding one static binary as an OCI
// image tarball, without a Docker engine, so that `make image` and the test
// node can build images on any machine with Go:
//
//	go run . -o sparkcm-hook.tar -name sparkcm-hook:dev -binary bin/sparkcm-hook \
//	    -entrypoint /sparkcm-hook -user 65532:65532 -ca-certs /etc/ssl/certs/ca-certificates.crt
//
// The image is what the Dockerfile's distroless static :nonroot stage gives:
// the binary, /etc/passwd and /etc/group with root and nonroot (65532), /tmp,
// /home/nonroot and the CA certificates; no shell, no libc. The tarball is an
// OCI image layout (index.json, oci-layout, blobs/) that also carries Docker's
// manifest.json, so both `docker load` and `ctr images import` read it. Every
// time stamp is the Unix epoch: the same inputs give the same bytes.
package main

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

type options struct {
	out, name, entrypoint, user, caCerts string
	binaries, args                       []string
}

func main() {
	var o options
	flag.StringVar(&o.out, "o", "", "write the image tarball here (required)")
	flag.StringVar(&o.name, "name", "", "image reference, e.g. sparkcm-hook:dev (required)")
	flag.Func("binary", "the static binary to put at -entrypoint (required); repeat it with one binary per architecture for a multi-architecture image (an OCI index)", func(s string) error { o.binaries = append(o.binaries, s); return nil })
	flag.StringVar(&o.entrypoint, "entrypoint", "", "absolute path of the binary in the image and the image's ENTRYPOINT (required)")
	flag.StringVar(&o.user, "user", "65532:65532", "the image's USER")
	flag.StringVar(&o.caCerts, "ca-certs", "", "a PEM bundle to install as /etc/ssl/certs/ca-certificates.crt")
	flag.Func("arg", "an argument in the image's CMD (repeatable)", func(s string) error { o.args = append(o.args, s); return nil })
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	if o.out == "" || o.name == "" || len(o.binaries) == 0 || !path.IsAbs(o.entrypoint) {
		return errors.New("-o, -name, -binary and an absolute -entrypoint are required")
	}
	ref, tag, err := normalize(o.name)
	if err != nil {
		return err
	}
	if len(o.binaries) == 1 {
		img, err := image(o, o.binaries[0])
		if err != nil {
			return err
		}
		return writeArchive(o.out, img, ref, tag)
	}
	// One image per architecture under one index: the kubelet and docker
	// pull the one for their node.
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	seen := map[string]string{}
	var imgs []v1.Image
	for _, b := range o.binaries {
		img, err := image(o, b)
		if err != nil {
			return err
		}
		cf, err := img.ConfigFile()
		if err != nil {
			return fmt.Errorf("config: %w", err)
		}
		if prev, dup := seen[cf.Architecture]; dup {
			return fmt.Errorf("-binary %s and %s are both %s", prev, b, cf.Architecture)
		}
		seen[cf.Architecture] = b
		imgs = append(imgs, img)
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: cf.OS, Architecture: cf.Architecture}},
		})
	}
	return writeIndexArchive(o.out, idx, imgs, ref)
}

// image is the image of one static binary.
func image(o options, binary string) (v1.Image, error) {
	arch, err := staticBinaryArch(binary)
	if err != nil {
		return nil, err
	}
	layer, err := rootfsLayer(o, binary)
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return nil, fmt.Errorf("add layer: %w", err)
	}
	img = mutate.MediaType(img, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", arch
	cf.Created = v1.Time{Time: time.Unix(0, 0).UTC()}
	cf.Config.User = o.user
	cf.Config.Entrypoint = []string{o.entrypoint}
	cf.Config.Cmd = o.args
	cf.Config.WorkingDir = "/"
	cf.Config.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin"}
	if o.caCerts != "" {
		cf.Config.Env = append(cf.Config.Env, "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt")
	}
	cf.History = []v1.History{{Created: cf.Created, CreatedBy: "tools/image " + o.entrypoint}}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return nil, fmt.Errorf("set config: %w", err)
	}
	return img, nil
}

// normalize spells a reference the way containerd and the kubelet do:
// sparkcm-hook:dev is docker.io/library/sparkcm-hook:dev. The short form goes
// into Docker's RepoTags.
func normalize(name string) (full, short string, err error) {
	if strings.ContainsAny(name, "@ ") {
		return "", "", fmt.Errorf("-name %q: want repository:tag", name)
	}
	repo, tag := name, "latest"
	if i := strings.LastIndexByte(name, ':'); i > strings.LastIndexByte(name, '/') {
		repo, tag = name[:i], name[i+1:]
	}
	if repo == "" || tag == "" {
		return "", "", fmt.Errorf("-name %q: want repository:tag", name)
	}
	first, _, hasSlash := strings.Cut(repo, "/")
	switch {
	case hasSlash && (strings.ContainsAny(first, ".:") || first == "localhost"):
		full = repo
	case hasSlash:
		full = "docker.io/" + repo
	default:
		full = "docker.io/library/" + repo
	}
	short = strings.TrimPrefix(strings.TrimPrefix(full, "docker.io/"), "library/")
	return full + ":" + tag, short + ":" + tag, nil
}

// staticBinaryArch refuses a dynamically linked binary (the image has no
// libc) and returns the image architecture of a static one.
func staticBinaryArch(p string) (string, error) {
	f, err := elf.Open(p)
	if err != nil {
		return "", fmt.Errorf("-binary %s: %w", p, err)
	}
	defer func() { _ = f.Close() }()
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			return "", fmt.Errorf("-binary %s is dynamically linked (build it with CGO_ENABLED=0): the image has no libc", p)
		}
	}
	switch f.Machine {
	case elf.EM_X86_64:
		return "amd64", nil
	case elf.EM_AARCH64:
		return "arm64", nil
	default:
		return "", fmt.Errorf("-binary %s: unsupported machine %s", p, f.Machine)
	}
}

const (
	passwd = "root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
	group  = "root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n"
)

func rootfsLayer(o options, binary string) (v1.Layer, error) {
	bin, err := os.ReadFile(binary)
	if err != nil {
		return nil, fmt.Errorf("-binary: %w", err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	epoch := time.Unix(0, 0)
	dir := func(name string, mode int64, uid int) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode, Uid: uid, Gid: uid, ModTime: epoch, Format: tar.FormatPAX})
	}
	file := func(name string, mode int64, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: epoch, Format: tar.FormatPAX}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	steps := []func() error{
		func() error { return dir("etc", 0o755, 0) },
		func() error { return file("etc/passwd", 0o644, []byte(passwd)) },
		func() error { return file("etc/group", 0o644, []byte(group)) },
		func() error { return dir("home", 0o755, 0) },
		func() error { return dir("home/nonroot", 0o700, 65532) },
		func() error { return dir("tmp", 0o1777, 0) },
	}
	if o.caCerts != "" {
		certs, err := os.ReadFile(o.caCerts)
		if err != nil {
			return nil, fmt.Errorf("-ca-certs: %w", err)
		}
		if !bytes.Contains(certs, []byte("-----BEGIN CERTIFICATE-----")) {
			return nil, fmt.Errorf("-ca-certs %s holds no PEM certificate", o.caCerts)
		}
		steps = append(steps,
			func() error { return dir("etc/ssl", 0o755, 0) },
			func() error { return dir("etc/ssl/certs", 0o755, 0) },
			func() error { return file("etc/ssl/certs/ca-certificates.crt", 0o644, certs) })
	}
	// Parent folders of the binary, then the binary.
	parts := strings.Split(strings.Trim(o.entrypoint, "/"), "/")
	for i := 1; i < len(parts); i++ {
		p := strings.Join(parts[:i], "/")
		if p == "etc" || p == "home" || p == "tmp" || p == "etc/ssl" || p == "etc/ssl/certs" {
			continue
		}
		steps = append(steps, func() error { return dir(p, 0o755, 0) })
	}
	steps = append(steps, func() error { return file(strings.Join(parts, "/"), 0o755, bin) })
	for _, s := range steps {
		if err := s(); err != nil {
			return nil, fmt.Errorf("layer: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	data := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	return layer, nil
}

// writeArchive writes the OCI image layout as one tar, plus Docker's
// manifest.json pointing at the same blobs.
func writeArchive(out string, img v1.Image, ref, short string) (err error) {
	manifest, err := img.RawManifest()
	if err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	mdigest, err := img.Digest()
	if err != nil {
		return fmt.Errorf("manifest digest: %w", err)
	}
	config, err := img.RawConfigFile()
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	cdigest, err := img.ConfigName()
	if err != nil {
		return fmt.Errorf("config digest: %w", err)
	}
	layers, err := img.Layers()
	if err != nil {
		return fmt.Errorf("layers: %w", err)
	}
	tag := ref[strings.LastIndexByte(ref, ':')+1:]
	index := map[string]any{
		"schemaVersion": 2,
		"mediaType":     types.OCIImageIndex,
		"manifests": []map[string]any{{
			"mediaType": types.OCIManifestSchema1,
			"digest":    mdigest.String(),
			"size":      len(manifest),
			"annotations": map[string]string{
				// containerd (ctr import) and docker load name the image from these.
				"io.containerd.image.name":          ref,
				"org.opencontainers.image.ref.name": tag,
			},
		}},
	}
	blob := func(h v1.Hash) string { return "blobs/" + h.Algorithm + "/" + h.Hex }
	dockerManifest := []map[string]any{{"Config": blob(cdigest), "RepoTags": []string{short}, "Layers": []string{}}}

	f, err := os.Create(out + ".tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(out + ".tmp")
		}
	}()
	tw := tar.NewWriter(f)
	epoch := time.Unix(0, 0)
	put := func(name string, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: epoch}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	for _, d := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o755, ModTime: epoch}); err != nil {
			return err
		}
	}
	for _, l := range layers {
		h, err := l.Digest()
		if err != nil {
			return fmt.Errorf("layer digest: %w", err)
		}
		rc, err := l.Compressed()
		if err != nil {
			return fmt.Errorf("layer: %w", err)
		}
		data, err := io.ReadAll(rc)
		_ = rc.Close()
		if err != nil {
			return fmt.Errorf("layer: %w", err)
		}
		if err := put(blob(h), data); err != nil {
			return err
		}
		dockerManifest[0]["Layers"] = append(dockerManifest[0]["Layers"].([]string), blob(h))
	}
	indexJSON, _ := json.Marshal(index)
	dockerJSON, _ := json.Marshal(dockerManifest)
	for _, e := range []struct {
		name string
		data []byte
	}{
		{blob(cdigest), config},
		{blob(mdigest), manifest},
		{"oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{"index.json", indexJSON},
		{"manifest.json", dockerJSON},
	} {
		if err := put(e.name, e.data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(out+".tmp", out)
}

// writeIndexArchive writes an OCI image layout whose index.json names one
// image index (one manifest per architecture), the form `ctr images import`
// and a registry push (crane push, skopeo copy oci-archive:) take for a
// multi-architecture image. Docker's manifest.json cannot name one tag for
// several architectures, so it is left out: docker load reads index.json.
func writeIndexArchive(out string, idx v1.ImageIndex, imgs []v1.Image, ref string) (err error) {
	rawIndex, err := idx.RawManifest()
	if err != nil {
		return fmt.Errorf("index: %w", err)
	}
	idxDigest, err := idx.Digest()
	if err != nil {
		return fmt.Errorf("index digest: %w", err)
	}
	blobs := map[v1.Hash][]byte{idxDigest: rawIndex}
	for _, img := range imgs {
		manifest, err := img.RawManifest()
		if err != nil {
			return fmt.Errorf("manifest: %w", err)
		}
		mdigest, err := img.Digest()
		if err != nil {
			return fmt.Errorf("manifest digest: %w", err)
		}
		config, err := img.RawConfigFile()
		if err != nil {
			return fmt.Errorf("config: %w", err)
		}
		cdigest, err := img.ConfigName()
		if err != nil {
			return fmt.Errorf("config digest: %w", err)
		}
		blobs[mdigest], blobs[cdigest] = manifest, config
		layers, err := img.Layers()
		if err != nil {
			return fmt.Errorf("layers: %w", err)
		}
		for _, l := range layers {
			h, err := l.Digest()
			if err != nil {
				return fmt.Errorf("layer digest: %w", err)
			}
			rc, err := l.Compressed()
			if err != nil {
				return fmt.Errorf("layer: %w", err)
			}
			data, err := io.ReadAll(rc)
			_ = rc.Close()
			if err != nil {
				return fmt.Errorf("layer: %w", err)
			}
			blobs[h] = data
		}
	}
	tag := ref[strings.LastIndexByte(ref, ':')+1:]
	indexJSON, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     types.OCIImageIndex,
		"manifests": []map[string]any{{
			"mediaType": types.OCIImageIndex,
			"digest":    idxDigest.String(),
			"size":      len(rawIndex),
			"annotations": map[string]string{
				"io.containerd.image.name":          ref,
				"org.opencontainers.image.ref.name": tag,
			},
		}},
	})
	names := make([]v1.Hash, 0, len(blobs))
	for h := range blobs {
		names = append(names, h)
	}
	// Map order is random; the archive must not be.
	sort.Slice(names, func(i, j int) bool { return names[i].Hex < names[j].Hex })

	f, err := os.Create(out + ".tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(out + ".tmp")
		}
	}()
	tw := tar.NewWriter(f)
	epoch := time.Unix(0, 0)
	for _, d := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o755, ModTime: epoch}); err != nil {
			return err
		}
	}
	put := func(name string, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: epoch}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	for _, h := range names {
		if err := put("blobs/"+h.Algorithm+"/"+h.Hex, blobs[h]); err != nil {
			return err
		}
	}
	if err := put("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
		return err
	}
	if err := put("index.json", indexJSON); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(out+".tmp", out)
}
