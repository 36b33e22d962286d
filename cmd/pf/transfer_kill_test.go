package main

import (
	"context"
	"encoding/json"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/processfork/pf"
	"github.com/processfork/pf/manifest"
)

// manyFiles is a world of n files of size random bytes each.
type manyFiles struct{ n, size int }

func (m manyFiles) CaptureWorld(ctx context.Context, w pf.BlobWriter) (manifest.World, error) {
	src := rand.NewChaCha8([32]byte{3})
	var tree manifest.Tree
	for i := range m.n {
		d, err := w.Put(ctx, io.LimitReader(src, int64(m.size)))
		if err != nil {
			return manifest.World{}, err
		}
		tree.Entries = append(tree.Entries, manifest.Entry{Path: "f" + string(rune('a'+i/26)) + string(rune('a'+i%26)), Mode: 0o644, Size: int64(m.size), Kind: manifest.KindFile, Blob: d})
	}
	raw, err := tree.Encode()
	if err != nil {
		return manifest.World{}, err
	}
	fs, err := w.PutBytes(ctx, raw)
	if err != nil {
		return manifest.World{}, err
	}
	empty, err := w.PutBytes(ctx, nil)
	return manifest.World{FS: fs, Env: empty, Procs: empty}, err
}

// An import of a reference store killed half way (SIGKILL), run again,
// finishes, and fetches only what had not arrived: what came before the
// kill was flushed as it came.
func TestImport_KilledAndRunAgain_DoesOnlyTheRest(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 96 MiB through two pf processes")
	}
	bin := buildPF(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "src.pf")
	s, err := pf.Open(src, nil)
	if err != nil {
		t.Fatal(err)
	}
	id, err := s.Snapshot(context.Background(), pf.Snapshot{Agent: manifest.Agent{Kind: "k", Version: "1", Fingerprint: "f"}, World: manyFiles{48, 2 << 20}})
	s.Close()
	if err != nil {
		t.Fatal(err)
	}
	ref, dst := filepath.Join(dir, "ref"), filepath.Join(dir, "dst.pf")
	for _, args := range [][]string{
		{"--store", src, "export", id.String(), "--reference-dir", ref},
		{"--store", dst, "init"},
	} {
		if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
			t.Fatalf("pf %v: %v\n%s", args, err, out)
		}
	}
	cmd := exec.Command(bin, "--store", dst, "import", ref)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill it once more than one flush (32 MiB) is committed. bbolt grows
	// the file before a commit writes, to what it needs plus its 16 MiB
	// step: the first flush's commit takes it to about 50 MiB before its
	// data is synced, so only a file past that shows a later commit under
	// way, and the first one done (a kill at 48 MiB could land before it).
	deadline := time.Now().Add(5 * time.Minute)
	for {
		fi, err := os.Stat(dst)
		if err == nil && fi.Size() > 56<<20 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("the import did not write 56 MiB in 5 minutes")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cmd.Process.Kill()
	if err := cmd.Wait(); err == nil {
		t.Skip("the import finished before it could be killed")
	}
	out, err := exec.Command(bin, "--store", dst, "import", ref, "--json").Output()
	if err != nil {
		t.Fatalf("the import run again: %v\n%s", err, out)
	}
	var rep struct {
		Images []struct {
			Status string `json:"status"`
		} `json:"images"`
		Blobs        int `json:"blobs"`
		PresentBlobs int `json:"present_blobs"`
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatal(err)
	}
	t.Logf("run again: %d blobs fetched, %d found from the killed run", rep.Blobs, rep.PresentBlobs)
	if len(rep.Images) != 1 || rep.Images[0].Status != "imported" || rep.PresentBlobs == 0 || rep.Blobs == 0 {
		t.Fatalf("the import run again: %s", out)
	}
	if out, err := exec.Command(bin, "--store", dst, "verify", "--deep").CombinedOutput(); err != nil {
		t.Fatalf("verify: %v\n%s", err, out)
	}
}
