package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/processfork/pf/internal/ociimage"
	"github.com/processfork/pf/manifest"
)

// These tests copy images out of a store through pf serve's read-only
// /v2/ with the registry clients people use, run as they are run: crane
// (github.com/google/go-containerregistry/cmd/crane) and oras
// (oras.land/oras/cmd/oras), built by .ci/run from their Go modules and
// named by $PF_TEST_CRANE and $PF_TEST_ORAS. What they fetch must be, byte
// for byte, what pf export --oci-layout writes of the same image: the
// reference's OCI form, which pf import reads back.

// ociClient is the registry client program $env names; the test skips
// only when the variable is unset (.ci/run always sets it).
func ociClient(t *testing.T, env string) string {
	t.Helper()
	bin := os.Getenv(env)
	if bin == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("$%s is not set: .ci/run builds the client", env)
		}
		t.Skipf("$%s names no client program (.ci/run builds it)", env)
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("$%s: %v", env, err)
	}
	return bin
}

// listening waits for the server's TCP address and token, as it prints
// them at start.
func (srv *served) listening() (addr, token string) {
	srv.t.Helper()
	line := regexp.MustCompile(`(?m)^http +http://([^/\s]+)/\?token=([0-9a-f]+)$`)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if m := line.FindStringSubmatch(srv.out.String()); m != nil {
			return m[1], m[2]
		}
		if time.Now().After(deadline) {
			srv.t.Fatalf("pf serve printed no address in 20s:\n%s", srv.out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// registryFixture is a served store with a small history of a workspace,
// its newest image tagged main, and that image's OCI layout as pf export
// writes it: what every client must get.
type registryFixture struct {
	srv    *served
	addr   string // 127.0.0.1:PORT
	token  string
	id     string // the image tagged main
	layout string // pf export --oci-layout DIR --tags main
	want   ociimage.Descriptor
}

func startRegistryFixture(t *testing.T) *registryFixture {
	t.Helper()
	srv := startServe(t, "--listen", "127.0.0.1:0", "--quiet")
	f := &registryFixture{srv: srv}
	f.addr, f.token = srv.listening()
	ws := filepath.Join(t.TempDir(), "ws")
	benchWorkspace(t, ws, 30)
	for turn := range 3 {
		if err := os.WriteFile(filepath.Join(ws, "turn.txt"), []byte(strings.Repeat(fmt.Sprintf("turn %d\n", turn), 1000)), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := srv.pf("snapshot", "--fs-root", ws).Output()
		if err != nil {
			t.Fatalf("snapshot: %v", err)
		}
		f.id = strings.TrimSpace(string(out))
	}
	if out, err := srv.pf("tag", "main", f.id).CombinedOutput(); err != nil {
		t.Fatalf("tag: %v %s", err, out)
	}
	f.layout = filepath.Join(t.TempDir(), "layout")
	export := srv.pf("export", "--tags", "--oci-layout", f.layout, "main")
	export.Env = append(os.Environ(), "PF_OCI_REG_SIGN_KEY=") // the default key, as pf serve signs
	if out, err := export.CombinedOutput(); err != nil {
		t.Fatalf("export: %v %s", err, out)
	}
	f.want = layoutEntry(t, f.layout, "main")
	return f
}

// layoutEntry is the manifest descriptor that names ref in the OCI
// layout dir's index.json.
func layoutEntry(t *testing.T, dir, ref string) ociimage.Descriptor {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	var index struct {
		Manifests []ociimage.Descriptor `json:"manifests"`
	}
	if err := json.Unmarshal(raw, &index); err != nil {
		t.Fatalf("%s/index.json: %v", dir, err)
	}
	for _, d := range index.Manifests {
		if d.Annotations["org.opencontainers.image.ref.name"] == ref {
			return d
		}
	}
	t.Fatalf("%s/index.json names no %q: %s", dir, ref, raw)
	return ociimage.Descriptor{}
}

// layoutBlob reads the blob named d out of the OCI layout dir.
func layoutBlob(t *testing.T, dir, d string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "blobs", "sha256", strings.TrimPrefix(d, "sha256:")))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// wantManifest checks that raw is the exported image's OCI manifest and
// returns it parsed.
func (f *registryFixture) wantManifest(t *testing.T, who string, raw []byte) *ociimage.Manifest {
	t.Helper()
	if got := manifest.Sum(raw).String(); got != f.want.Digest {
		t.Fatalf("%s: the manifest hashes to %s; pf export wrote %s", who, got, f.want.Digest)
	}
	if !bytes.Equal(raw, layoutBlob(t, f.layout, f.want.Digest)) {
		t.Fatalf("%s: the manifest is not pf export's", who)
	}
	var m ociimage.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if m.Config.Digest != f.id {
		t.Fatalf("%s: config %s, want the image id %s", who, m.Config.Digest, f.id)
	}
	return &m
}

// sameLayout checks that the OCI layout dir holds the exported image
// under ref, every blob byte for byte, and that pf import takes the image
// from it, verified, into a new store.
func (f *registryFixture) sameLayout(t *testing.T, who, dir, ref string) {
	t.Helper()
	got := layoutEntry(t, dir, ref)
	if got.Digest != f.want.Digest || got.Size != f.want.Size || got.MediaType != f.want.MediaType {
		t.Fatalf("%s: %s names %+v, pf export %+v", who, ref, got, f.want)
	}
	m := f.wantManifest(t, who, layoutBlob(t, dir, got.Digest))
	for _, d := range append([]ociimage.Descriptor{m.Config}, m.Layers...) {
		if !bytes.Equal(layoutBlob(t, dir, d.Digest), layoutBlob(t, f.layout, d.Digest)) {
			t.Fatalf("%s: blob %s differs from pf export's", who, d.Digest)
		}
	}
	store := filepath.Join(t.TempDir(), "copy.pf")
	pf := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(f.srv.bin, append([]string{"--store", store}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: pf %s: %v\n%s", who, strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	pf("init")
	pf("import", dir)
	if out := pf("verify"); !strings.Contains(pf("log", "--json"), f.id) {
		t.Fatalf("%s: the image %s is not in the store its layout was imported into (verify: %s)", who, f.id, out)
	}
}

// run runs a client and returns its standard output.
func runClient(t *testing.T, env []string, bin string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(bin), strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// TestServe_OCI_Crane copies the image tagged main with crane, which
// takes credentials from a Docker config (crane auth login): the tag
// list, the manifest and its digest, every blob, and crane pull --format
// oci's layout, which pf import reads back.
func TestServe_OCI_Crane(t *testing.T) {
	crane := ociClient(t, "PF_TEST_CRANE")
	f := startRegistryFixture(t)
	env := []string{"DOCKER_CONFIG=" + t.TempDir(), "HOME=" + t.TempDir()}
	repo := f.addr + "/pf/store"
	runClient(t, env, crane, "auth", "login", f.addr, "--username", "pf", "--password", f.token)

	if tags := string(runClient(t, env, crane, "ls", repo)); !regexp.MustCompile(`(?m)^main$`).MatchString(tags) {
		t.Fatalf("crane ls: %s", tags)
	}
	m := f.wantManifest(t, "crane manifest", runClient(t, env, crane, "manifest", repo+":main"))
	if d := strings.TrimSpace(string(runClient(t, env, crane, "digest", repo+":main"))); d != f.want.Digest {
		t.Fatalf("crane digest: %s, want %s", d, f.want.Digest)
	}
	f.wantManifest(t, "crane manifest by digest", runClient(t, env, crane, "manifest", repo+"@"+f.want.Digest))
	f.wantManifest(t, "crane manifest by the image's id tag",
		runClient(t, env, crane, "manifest", repo+":sha256-"+strings.TrimPrefix(f.id, "sha256:")))
	for _, d := range append([]ociimage.Descriptor{m.Config}, m.Layers...) {
		b := runClient(t, env, crane, "blob", repo+"@"+d.Digest)
		if !bytes.Equal(b, layoutBlob(t, f.layout, d.Digest)) {
			t.Fatalf("crane blob %s: %d bytes hashing to %s, not pf export's", d.Digest, len(b), manifest.Sum(b))
		}
	}
	pulled := filepath.Join(t.TempDir(), "pulled")
	runClient(t, env, crane, "pull", "--format", "oci", "--annotate-ref", repo+":main", pulled)
	f.sameLayout(t, "crane pull", pulled, repo+":main")

	// Without the token, the registry refuses.
	cmd := exec.Command(crane, "manifest", repo+":main")
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+t.TempDir(), "HOME="+t.TempDir())
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "UNAUTHORIZED") {
		t.Fatalf("crane manifest without the token: %v\n%s", err, out)
	}
}

// TestServe_OCI_Oras copies the image tagged main with oras, which takes
// credentials as flags: the tags, the manifest, every blob, and oras copy
// into an OCI layout, which pf import reads back.
func TestServe_OCI_Oras(t *testing.T) {
	oras := ociClient(t, "PF_TEST_ORAS")
	f := startRegistryFixture(t)
	env := []string{"DOCKER_CONFIG=" + t.TempDir(), "HOME=" + t.TempDir()}
	repo := f.addr + "/pf/store"
	auth := []string{"--plain-http", "--username", "pf", "--password", f.token}
	args := func(verb ...string) []string { return append(verb, auth...) }

	if tags := string(runClient(t, env, oras, append(args("repo", "tags"), repo)...)); !regexp.MustCompile(`(?m)^main$`).MatchString(tags) {
		t.Fatalf("oras repo tags: %s", tags)
	}
	m := f.wantManifest(t, "oras manifest fetch", runClient(t, env, oras, append(args("manifest", "fetch"), repo+":main")...))
	for _, d := range append([]ociimage.Descriptor{m.Config}, m.Layers...) {
		b := runClient(t, env, oras, append(args("blob", "fetch", "--output", "-"), repo+"@"+d.Digest)...)
		if !bytes.Equal(b, layoutBlob(t, f.layout, d.Digest)) {
			t.Fatalf("oras blob fetch %s: %d bytes hashing to %s, not pf export's", d.Digest, len(b), manifest.Sum(b))
		}
	}
	copied := filepath.Join(t.TempDir(), "copied")
	runClient(t, env, oras, "copy", "--from-plain-http", "--from-username", "pf", "--from-password", f.token,
		repo+":main", "--to-oci-layout", copied+":main")
	f.sameLayout(t, "oras copy", copied, "main")

	// The server's own way, its token as a bearer header, works too.
	header := []string{"--plain-http", "--header", "Authorization: Bearer " + f.token}
	f.wantManifest(t, "oras manifest fetch with the bearer token",
		runClient(t, env, oras, append(append([]string{"manifest", "fetch"}, header...), repo+"@"+f.want.Digest)...))
}
