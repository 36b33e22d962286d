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

// TestTransfer_LargeBlob_BoundedMemory moves an image with a 2 GiB blob
// (256 MiB with -short) every way pf moves images, each a pf process of
// its own, and holds each process's peak RSS under 128 MiB: every
// transfer streams.
func TestTransfer_LargeBlob_BoundedMemory(t *testing.T) {
	size := int64(2 << 30)
	if testing.Short() {
		size = 256 << 20
	}
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
		name string
		args []string
	}{
		{"export -o", []string{"--store", src, "export", id.String(), "-o", filepath.Join(dir, "bundle.pf")}},
		{"import a bundle", []string{"--store", filepath.Join(dir, "a.pf"), "import", filepath.Join(dir, "bundle.pf")}},
		{"export --reference-dir", []string{"--store", src, "export", id.String(), "--reference-dir", filepath.Join(dir, "ref")}},
		{"import a reference store", []string{"--store", filepath.Join(dir, "b.pf"), "import", filepath.Join(dir, "ref")}},
		{"push", []string{"--store", src, "push", id.String(), ref}},
		{"pull", []string{"--store", filepath.Join(dir, "c.pf"), "pull", ref}},
	} {
		t.Run(strings.ReplaceAll(step.name, " ", "_"), func(t *testing.T) {
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
