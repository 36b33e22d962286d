package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/processfork/pf"
	"github.com/processfork/pf/internal/transfer/ociregistry/registrytest"
	"github.com/processfork/pf/manifest"
)

// bigTrace is a trace layer of one blob of n random bytes, streamed.
type bigTrace int64

func (n bigTrace) CaptureTrace(ctx context.Context, w pf.BlobWriter) (manifest.Trace, error) {
	d, err := w.Put(ctx, io.LimitReader(rand.NewChaCha8([32]byte{7}), int64(n)))
	return manifest.Trace{Messages: d}, err
}

// largeDirectionsEnv names the environment variable that runs every
// direction of TestTransfer_LargeBlob_BoundedMemory: "all".
const largeDirectionsEnv = "PF_TEST_TRANSFER_LARGE"

// TestTransfer_LargeBlob_BoundedMemory moves an image with a 2 GiB blob
// the ways pf moves images, each a pf process of its own, and holds each
// process's peak RSS (VmHWM) under 128 MiB: every transfer streams.
//
// Each direction costs a minute or more of this 2-core machine, so the
// test run by go test (and CI) moves the blob two ways, push and pull,
// which go through the export and the import pipelines that every
// direction shares, and the registry's client both ways. The other four
// (export -o, import of a bundle, export --reference-dir, import of a
// reference store) run with PF_TEST_TRANSFER_LARGE=all:
//
//	PF_TEST_TRANSFER_LARGE=all go test ./cmd/pf -run LargeBlob -v
//
// -short skips the test.
func TestTransfer_LargeBlob_BoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("moves a 2 GiB blob through pf processes: minutes")
	}
	const size = 2 << 30
	all := os.Getenv(largeDirectionsEnv) == "all"
	bin := buildPF(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "src.pf")
	s, err := pf.Open(src, nil)
	if err != nil {
		t.Fatal(err)
	}
	id, err := s.Snapshot(context.Background(), pf.Snapshot{Agent: manifest.Agent{Kind: "large", Version: "1", Fingerprint: "f"}, Trace: bigTrace(size)})
	s.Close()
	if err != nil {
		t.Fatal(err)
	}
	reg := registrytest.Start(t, registrytest.Options{})
	ref := "oci://" + reg.Addr + "/large/image:v1"
	for _, step := range []struct {
		name     string
		onDemand bool // runs only with PF_TEST_TRANSFER_LARGE=all
		args     []string
	}{
		{"export -o", true, []string{"--store", src, "export", id.String(), "-o", filepath.Join(dir, "bundle.pf")}},
		{"import a bundle", true, []string{"--store", filepath.Join(dir, "a.pf"), "import", filepath.Join(dir, "bundle.pf")}},
		{"export --reference-dir", true, []string{"--store", src, "export", id.String(), "--reference-dir", filepath.Join(dir, "ref")}},
		{"import a reference store", true, []string{"--store", filepath.Join(dir, "b.pf"), "import", filepath.Join(dir, "ref")}},
		{"push", false, []string{"--store", src, "push", id.String(), ref}},
		{"pull", false, []string{"--store", filepath.Join(dir, "c.pf"), "pull", ref}},
	} {
		t.Run(strings.ReplaceAll(step.name, " ", "_"), func(t *testing.T) {
			if step.onDemand && !all {
				t.Skipf("runs with %s=all", largeDirectionsEnv)
			}
			if strings.HasPrefix(step.name, "import") || step.name == "pull" {
				if out, err := exec.Command(bin, step.args[0], step.args[1], "init").CombinedOutput(); err != nil {
					t.Fatalf("pf init: %v\n%s", err, out)
				}
			}
			start := time.Now()
			out, rss, err := runPeakRSS(bin, step.args...)
			if err != nil {
				t.Fatalf("pf %s: %v\n%s", strings.Join(step.args, " "), err, out)
			}
			t.Logf("pf %s of a %d MiB blob: %s, peak RSS %d MiB", step.name, size>>20, time.Since(start).Round(time.Millisecond), rss>>10)
			if rss > 128<<10 {
				t.Fatalf("pf %s: peak RSS %d MiB, want under 128 MiB\n%s", step.name, rss>>10, out)
			}
			if !strings.Contains(string(out), id.String()) {
				t.Fatalf("pf %s did not move the image:\n%s", step.name, out)
			}
		})
	}
}

// runPeakRSS runs bin and returns its output and its peak RSS in KiB, read
// from its /proc/PID/status (VmHWM) while it runs. Not wait4's rusage: a
// child that Go starts with vfork counts the RSS of this test process,
// which made the blob, into its own maximum.
func runPeakRSS(bin string, args ...string) ([]byte, int64, error) {
	var out bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return nil, 0, err
	}
	status := fmt.Sprintf("/proc/%d/status", cmd.Process.Pid)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var peak int64
	for {
		if b, err := os.ReadFile(status); err == nil {
			for _, line := range strings.Split(string(b), "\n") {
				if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
					kib, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
					peak = max(peak, kib)
				}
			}
		}
		select {
		case err := <-done:
			return out.Bytes(), peak, err
		case <-time.After(10 * time.Millisecond):
		}
	}
}
