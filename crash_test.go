package pf_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/processfork/pf"
	"github.com/processfork/pf/manifest"
)

const crashChildEnv = "PF_TEST_CRASH_CHILD"

// crashChild snapshots forever, each image the child of the one before,
// with worlds large enough that leases write early. It reports each id
// once Snapshot has returned it.
func crashChild(path string) int {
	s, err := pf.Open(path, &pf.Options{Timeout: 5 * time.Second})
	if err != nil {
		fmt.Println("open:", err)
		return 1
	}
	var parents []manifest.Digest
	for i := 0; ; i++ {
		// 2,000 files of 6 KB: 12 MB, more than a lease stages.
		w := files(uint64(time.Now().UnixNano()), 2000)
		id, err := s.Snapshot(context.Background(), pf.Snapshot{Agent: agent, Parents: parents, World: w})
		if err != nil {
			fmt.Println("snapshot:", err)
			return 1
		}
		fmt.Printf("committed %s\n", id)
		parents = []manifest.Digest{id}
	}
}

// TestStore_KilledMidSnapshot kills a snapshotting process at random
// moments; after each kill the store opens, and every image the child
// reported committed is there with every blob it reaches.
func TestStore_KilledMidSnapshot(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.pf")
	rounds := 8
	if testing.Short() {
		rounds = 3
	}
	var committed []manifest.Digest
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	for round := 0; round < rounds; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		deadline := time.After(time.Duration(100+rng.IntN(900)) * time.Millisecond)
	read:
		for {
			select {
			case line, ok := <-lines:
				if !ok {
					break read
				}
				hex, found := strings.CutPrefix(line, "committed ")
				if !found {
					t.Fatalf("child: %s", line)
				}
				id, err := manifest.ParseDigest(hex)
				if err != nil {
					t.Fatal(err)
				}
				committed = append(committed, id)
			case <-deadline:
				cmd.Process.Signal(syscall.SIGKILL)
				deadline = nil
			}
		}
		cmd.Wait()

		s, err := pf.Open(path, nil)
		if err != nil {
			t.Fatalf("round %d: open after kill: %v", round, err)
		}
		for _, id := range committed {
			checkImage(t, s, id)
		}
		st, err := s.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.Images < int64(len(committed)) {
			t.Fatalf("round %d: %d images, %d reported committed", round, st.Images, len(committed))
		}
		s.Close()
	}
	t.Logf("%d kills, %d images committed and checked", rounds, len(committed))
}

// checkImage reads image id and every blob it reaches, verified.
func checkImage(t *testing.T, s *pf.Store, id manifest.Digest) {
	t.Helper()
	img, err := s.Image(ctx, id)
	if err != nil {
		t.Fatalf("image %s: %v", id.Short(), err)
	}
	for _, l := range img.Manifest.Layers() {
		b, err := s.Blobs().Get(ctx, l.Digest)
		if err != nil {
			t.Fatalf("image %s %s: %v", id.Short(), l.Name, err)
		}
		refs, err := manifest.Refs(l.Name, b)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range refs {
			if _, err := s.Blobs().Get(ctx, r); err != nil {
				t.Fatalf("image %s, blob named by %s: %v", id.Short(), l.Name, err)
			}
		}
	}
}
