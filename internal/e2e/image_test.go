package e2e_test

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"debug/elf"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/sparkcm-hook/sparkcm-hook/internal/kubecluster"
)

// dockerfileImage is what the Dockerfile says about the image it builds.
type dockerfileImage struct {
	base, user string
	entrypoint []string
	staticGo   bool   // the binary is built with CGO_ENABLED=0
	binaryAt   string // where the final stage copies the binary
}

func parseDockerfile(t *testing.T, p string) dockerfileImage {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	// Join continuation lines, drop comments.
	var lines []string
	var cur strings.Builder
	s := bufio.NewScanner(bytes.NewReader(b))
	for s.Scan() {
		line := strings.TrimSpace(s.Text())
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		if strings.HasSuffix(line, `\`) {
			cur.WriteString(strings.TrimSuffix(line, `\`) + " ")
			continue
		}
		cur.WriteString(line)
		lines = append(lines, cur.String())
		cur.Reset()
	}
	var img dockerfileImage
	final := false
	for i, line := range lines {
		instr, rest, _ := strings.Cut(line, " ")
		switch strings.ToUpper(instr) {
		case "FROM":
			// The last FROM is the image; the ones before are build stages.
			final = true
			for _, l := range lines[i+1:] {
				if strings.HasPrefix(strings.ToUpper(l), "FROM ") {
					final = false
				}
			}
			if final {
				img.base = strings.Fields(rest)[0]
			}
		case "RUN":
			if strings.Contains(rest, "go build") && strings.Contains(rest, "CGO_ENABLED=0") {
				img.staticGo = true
			}
		case "COPY":
			if final && strings.Contains(rest, "--from=build") {
				f := strings.Fields(rest)
				img.binaryAt = f[len(f)-1]
			}
		case "USER":
			if final {
				img.user = strings.TrimSpace(rest)
			}
		case "ENTRYPOINT":
			if final {
				if err := json.Unmarshal([]byte(rest), &img.entrypoint); err != nil {
					t.Fatalf("ENTRYPOINT %s: want the JSON form: %v", rest, err)
				}
			}
		}
	}
	return img
}

// ociImage is what an image tarball holds.
type ociImage struct {
	name, user     string
	entrypoint     []string
	files          map[string]*tar.Header
	contents       map[string][]byte
	dockerRepoTags []string
}

func readImageTarball(t *testing.T, p string) ociImage {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	blobs := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		blobs[h.Name] = b
	}
	blob := func(digest string) []byte {
		b, ok := blobs["blobs/"+strings.Replace(digest, ":", "/", 1)]
		if !ok {
			t.Fatalf("tarball has no blob %s", digest)
		}
		return b
	}
	if !bytes.Contains(blobs["oci-layout"], []byte(`"imageLayoutVersion"`)) {
		t.Fatal("no oci-layout: not an OCI image layout")
	}
	var index struct {
		Manifests []struct {
			Digest      string            `json:"digest"`
			Annotations map[string]string `json:"annotations"`
		} `json:"manifests"`
	}
	if err := json.Unmarshal(blobs["index.json"], &index); err != nil || len(index.Manifests) != 1 {
		t.Fatalf("index.json: %v %s", err, blobs["index.json"])
	}
	var manifest struct {
		Config struct{ Digest string } `json:"config"`
		Layers []struct {
			Digest    string `json:"digest"`
			MediaType string `json:"mediaType"`
		} `json:"layers"`
	}
	if err := json.Unmarshal(blob(index.Manifests[0].Digest), &manifest); err != nil {
		t.Fatal(err)
	}
	var config struct {
		Config struct {
			User       string
			Entrypoint []string
		} `json:"config"`
	}
	if err := json.Unmarshal(blob(manifest.Config.Digest), &config); err != nil {
		t.Fatal(err)
	}
	img := ociImage{
		name: index.Manifests[0].Annotations["io.containerd.image.name"], user: config.Config.User, entrypoint: config.Config.Entrypoint,
		files: map[string]*tar.Header{}, contents: map[string][]byte{},
	}
	for _, l := range manifest.Layers {
		zr, err := gzip.NewReader(bytes.NewReader(blob(l.Digest)))
		if err != nil {
			t.Fatalf("layer %s (%s): %v", l.Digest, l.MediaType, err)
		}
		lr := tar.NewReader(zr)
		for {
			h, err := lr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			name := "/" + strings.TrimSuffix(path.Clean(h.Name), "/")
			img.files[name] = h
			if h.Typeflag == tar.TypeReg {
				b, _ := io.ReadAll(lr)
				img.contents[name] = b
			}
		}
	}
	// docker load reads manifest.json: it must point at the same blobs.
	var docker []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	if err := json.Unmarshal(blobs["manifest.json"], &docker); err != nil || len(docker) != 1 {
		t.Fatalf("manifest.json: %v %s", err, blobs["manifest.json"])
	}
	for _, p := range append([]string{docker[0].Config}, docker[0].Layers...) {
		if _, ok := blobs[p]; !ok {
			t.Errorf("manifest.json names %s, which the tarball lacks", p)
		}
	}
	img.dockerRepoTags = docker[0].RepoTags
	return img
}

func TestMakeImageBuildsWithoutDockerTheImageTheDockerfileDescribes(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds the binary and the image")
	}
	root, err := kubecluster.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	want := parseDockerfile(t, filepath.Join(root, "Dockerfile"))
	// What the Dockerfile promises, spelled out, so a change there fails here
	// until both agree again.
	if want.user != "65532:65532" || strings.Join(want.entrypoint, " ") != "/sparkcm-hook" || want.binaryAt != "/sparkcm-hook" ||
		!want.staticGo || !strings.Contains(want.base, "distroless/static") {
		t.Fatalf("Dockerfile describes %+v; want a static binary at /sparkcm-hook on distroless static, USER 65532:65532", want)
	}

	out := filepath.Join(t.TempDir(), "image.tar")
	// A binary of its own: bin/sparkcm-hook may be running in other tests.
	cmd := exec.Command("make", "-s", "-C", root, "image", "IMAGE=sparkcm-hook:test", "IMAGE_OUT="+out, "BIN="+filepath.Join(filepath.Dir(out), "sparkcm-hook"))
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make image: %v\n%s", err, b)
	}
	got := readImageTarball(t, out)
	if got.name != "docker.io/library/sparkcm-hook:test" || strings.Join(got.dockerRepoTags, ",") != "sparkcm-hook:test" {
		t.Errorf("image named %q, docker tags %v", got.name, got.dockerRepoTags)
	}
	if got.user != want.user {
		t.Errorf("USER %q, the Dockerfile says %q", got.user, want.user)
	}
	if strings.Join(got.entrypoint, " ") != strings.Join(want.entrypoint, " ") {
		t.Errorf("ENTRYPOINT %v, the Dockerfile says %v", got.entrypoint, want.entrypoint)
	}
	bin, ok := got.contents[want.binaryAt]
	if !ok || got.files[want.binaryAt].Mode&0o111 == 0 {
		t.Fatalf("no executable %s in the image", want.binaryAt)
	}
	ef, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ef.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s is dynamically linked; the image has no libc", want.binaryAt)
		}
	}
	// distroless static: CA certificates and the nonroot user, and no shell
	// or any other program.
	if !bytes.Contains(got.contents["/etc/ssl/certs/ca-certificates.crt"], []byte("BEGIN CERTIFICATE")) {
		t.Error("no CA certificates at /etc/ssl/certs/ca-certificates.crt")
	}
	if !regexp.MustCompile(`(?m)^nonroot:x:65532:65532:`).Match(got.contents["/etc/passwd"]) {
		t.Errorf("/etc/passwd has no nonroot 65532:\n%s", got.contents["/etc/passwd"])
	}
	for name, h := range got.files {
		if h.Typeflag == tar.TypeReg && h.Mode&0o111 != 0 && name != want.binaryAt {
			t.Errorf("the image holds another program: %s", name)
		}
		if base := path.Base(name); base == "sh" || base == "bash" || base == "busybox" {
			t.Errorf("the image holds a shell: %s", name)
		}
	}
}
