package pf_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/processfork/pf"
	"github.com/processfork/pf/internal/db"
	"github.com/processfork/pf/manifest"
	bolt "go.etcd.io/bbolt"
)

const crashChildEnv = "PF_TEST_CRASH_CHILD"

// crashChild works on the store as an agent host would, in a loop that
// only a kill ends: it snapshots (now and then a world large enough that
// its lease writes early), forks, tags, prunes and collects. It prints
// "committed ID" for each snapshot on its main line once it is committed
// and tagged head; forks are leaves that prune may remove, so they are
// not reported.
func crashChild(path string) int {
	s, err := pf.Open(path, &pf.Options{Timeout: 5 * time.Second})
	if err != nil {
		fmt.Println("open:", err)
		return 1
	}
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	var head []manifest.Digest
	if tags, err := s.Tags(ctx); err == nil {
		for _, tag := range tags {
			if tag.Name == "head" {
				head = []manifest.Digest{tag.ID}
			}
		}
	}
	for i := 0; ; i++ {
		var err error
		switch op := rng.IntN(10); {
		case op < 5: // snapshot on the main line
			n := 10 + rng.IntN(40)
			if rng.IntN(4) == 0 {
				n = 4000 // 24 MB: three early writes
			}
			var id manifest.Digest
			id, err = s.Snapshot(ctx, pf.Snapshot{Agent: agent, Parents: head, World: files(rng.Uint64(), n),
				Trace: trace{lines: []byte(fmt.Sprint("step ", i))}})
			// Reported once the head tag names it: from then on every
			// later head descends from it, and prune keeps ancestors.
			if err == nil {
				_, err = s.Tag(ctx, "head", id)
			}
			if err == nil {
				fmt.Printf("committed %s\n", id)
				head = []manifest.Digest{id}
			}
		case op < 7 && head != nil: // a metadata-only fork of the head
			var img *pf.Image
			if img, err = s.Image(ctx, head[0]); err == nil {
				m := *img.Manifest
				m.CreatedAt = time.Now().UTC()
				m.Parents = head
				m.Agent.Fingerprint += "+fork"
				var fork manifest.Digest
				if fork, err = s.CommitManifest(ctx, &m); err == nil && rng.IntN(2) == 0 {
					_, err = s.Tag(ctx, "fork", fork)
				}
			}
		case op < 8:
			_, err = s.Untag(ctx, "fork")
			if errors.Is(err, pf.ErrNotFound) {
				err = nil
			}
		case op < 9:
			_, err = s.Prune(ctx, pf.PruneOptions{KeepLast: 3})
		default:
			_, err = s.GC(ctx, pf.GCOptions{BatchSize: 64})
		}
		if err != nil {
			fmt.Println("error:", err)
			return 1
		}
	}
}

// TestStore_Crash kills a working process with SIGKILL at random moments.
// After every kill the store opens, a deep verify finds nothing wrong,
// and every image the child reported committed is there with every blob
// it reaches. PF_CRASH_KILLS sets the number of kills (100 by default, 20
// with -short).
func TestStore_Crash(t *testing.T) {
	kills := 100
	if testing.Short() {
		kills = 20
	}
	if n, err := strconv.Atoi(os.Getenv("PF_CRASH_KILLS")); err == nil {
		kills = n
	}
	path := filepath.Join(t.TempDir(), "store.pf")
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	var committed []manifest.Digest
	early := 0 // kills that cut short a snapshot's early writes
	for kill := 0; kill < kills; kill++ {
		fresh := runAndKill(t, path, time.Duration(20+rng.IntN(300))*time.Millisecond)
		committed = append(committed, fresh...)
		if provisionalMarks(t, path, true) > 0 {
			early++
		}
		s, err := pf.Open(path, nil)
		if err != nil {
			t.Fatalf("kill %d: open: %v", kill, err)
		}
		s.Close()
		if n := provisionalMarks(t, path, false); n > 0 {
			t.Fatalf("kill %d: %d provisional marks outlived the read-write open", kill, n)
		}
		if s, err = pf.Open(path, nil); err != nil {
			t.Fatalf("kill %d: open: %v", kill, err)
		}
		// Deep verify reads and re-hashes everything every image
		// reaches; the images reported before this run need only be
		// there.
		rep, err := s.Verify(ctx, pf.VerifyOptions{Deep: true})
		if err != nil || len(rep.Problems) > 0 {
			t.Fatalf("kill %d: verify: %v %v", kill, err, rep.Problems)
		}
		for _, id := range committed[:len(committed)-len(fresh)] {
			if ok, err := s.HasImage(ctx, id); !ok {
				t.Fatalf("kill %d: image %s reported committed is gone (%v)", kill, id.Short(), err)
			}
		}
		for _, id := range fresh {
			checkImage(t, s, id)
		}
		s.Close()
	}
	t.Logf("%d kills, %d of them during early writes; %d images reported committed, all whole", kills, early, len(committed))
}

// provisionalMarks counts the marks in provisional/ of the store at path,
// opened read-only.
func provisionalMarks(t *testing.T, path string, mayBeMissing bool) int {
	t.Helper()
	s, err := pf.Open(path, &pf.Options{ReadOnly: true})
	if errors.Is(err, pf.ErrNotFound) && mayBeMissing {
		return 0 // killed before it made the file
	}
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	n := 0
	if err := pf.StoreDB(s).View(func(tx *bolt.Tx) error {
		n = tx.Bucket(db.BucketProvisional).Stats().KeyN
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// runAndKill runs crashChild on path, kills it after d, and returns the
// ids it reported committed.
func runAndKill(t *testing.T, path string, d time.Duration) []manifest.Digest {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(d, func() { cmd.Process.Signal(syscall.SIGKILL) })
	defer timer.Stop()
	var ids []manifest.Digest
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		hex, ok := strings.CutPrefix(sc.Text(), "committed ")
		if !ok {
			t.Fatalf("child: %s", sc.Text())
		}
		id, err := manifest.ParseDigest(hex)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	cmd.Wait()
	return ids
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
