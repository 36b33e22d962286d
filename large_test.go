package pf_test

import (
	"bufio"
	"crypto/sha256"
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
	"github.com/processfork/pf/manifest"
)

// The large-blob test runs in a child process, so that the peak resident
// memory it reads is that of the put and get alone.
const largeChildEnv = "PF_TEST_LARGE_CHILD"

func TestMain(m *testing.M) {
	if spec := os.Getenv(largeChildEnv); spec != "" {
		os.Exit(largeChild(spec))
	}
	if path := os.Getenv(crashChildEnv); path != "" {
		os.Exit(crashChild(path))
	}
	os.Exit(m.Run())
}

// TestStore_LargeBlob_BoundedMemory puts a 2 GiB blob and reads it back,
// both streamed, and holds the process's peak RSS under 128 MiB.
func TestStore_LargeBlob_BoundedMemory(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's shadow memory makes RSS meaningless; the non-race run covers this")
	}
	size := int64(2 << 30)
	if testing.Short() {
		size = 256 << 20
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s,%d", largeChildEnv, filepath.Join(t.TempDir(), "store.pf"), size))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	var hwm int64
	if _, err := fmt.Sscanf(lastLine(string(out)), "peak_rss_kib %d", &hwm); err != nil {
		t.Fatalf("child output %q: %v", out, err)
	}
	t.Logf("%d MiB blob: peak RSS %d MiB", size>>20, hwm>>10)
	if hwm > 128<<10 {
		t.Fatalf("peak RSS %d MiB, want under 128 MiB", hwm>>10)
	}
}

func largeChild(spec string) int {
	path, sizeText, _ := strings.Cut(spec, ",")
	size, _ := strconv.ParseInt(sizeText, 10, 64)
	s, err := pf.Open(path, nil)
	if err != nil {
		fmt.Println(err)
		return 1
	}
	defer s.Close()
	start := time.Now()
	src := io.LimitReader(rand.NewChaCha8([32]byte{1}), size)
	want := sha256.New()
	d, err := s.Blobs().Put(ctx, io.TeeReader(src, want))
	if err != nil {
		fmt.Println("put:", err)
		return 1
	}
	if manifest.Digest(want.Sum(nil)) != d {
		fmt.Println("put returned the wrong digest")
		return 1
	}
	fmt.Fprintln(os.Stderr, "after put:", time.Since(start), statusLines())
	start = time.Now()
	r, err := s.Blobs().Open(ctx, d)
	if err != nil {
		fmt.Println("open:", err)
		return 1
	}
	got := sha256.New()
	n, err := io.Copy(got, r)
	if err != nil || n != size || manifest.Digest(got.Sum(nil)) != d {
		fmt.Println("read back:", n, err)
		return 1
	}
	fmt.Fprintln(os.Stderr, "after get:", time.Since(start), statusLines())
	fmt.Printf("peak_rss_kib %d\n", peakRSS())
	return 0
}

// peakRSS reads VmHWM, in KiB, from /proc/self/status.
func peakRSS() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return -1
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func statusLines() string {
	b, _ := os.ReadFile("/proc/self/status")
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "Rss") || strings.HasPrefix(l, "VmHWM") {
			out = append(out, strings.Join(strings.Fields(l), " "))
		}
	}
	return strings.Join(out, "; ")
}
