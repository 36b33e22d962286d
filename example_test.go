package pf_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/processfork/pf"
	"github.com/processfork/pf/manifest"
)

// transcript captures an agent's trace layer: its message log as JSON
// lines. A real agent implements the captures it has state for; the
// layers it leaves out point at the empty blob.
type transcript []string

func (t transcript) CaptureTrace(ctx context.Context, w pf.BlobWriter) (manifest.Trace, error) {
	var lines []byte
	for _, msg := range t {
		lines = fmt.Appendf(lines, "{\"role\":\"user\",\"content\":%q}\n", msg)
	}
	d, err := w.PutBytes(ctx, lines)
	return manifest.Trace{Messages: d}, err
}

// Embedding the store: open it, snapshot an agent, fork the snapshot, and
// read an image back.
func Example() {
	dir, _ := os.MkdirTemp("", "pf-example")
	defer os.RemoveAll(dir)

	store, err := pf.Open(filepath.Join(dir, "agents.pf"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	ctx := context.Background()
	agent := manifest.Agent{Kind: "my-agent", Version: "1.2.0", Fingerprint: "build-42"}

	root, err := store.Snapshot(ctx, pf.Snapshot{Agent: agent, Trace: transcript{"hello"}})
	if err != nil {
		log.Fatal(err)
	}
	child, err := store.Snapshot(ctx, pf.Snapshot{
		Agent:   agent,
		Parents: []manifest.Digest{root},
		Trace:   transcript{"hello", "and then?"},
	})
	if err != nil {
		log.Fatal(err)
	}

	img, err := store.Image(ctx, child)
	if err != nil {
		log.Fatal(err)
	}
	messages, err := store.Blobs().Get(ctx, img.Manifest.Trace.Messages)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(img.Manifest.Parents[0] == root)
	fmt.Print(string(messages))
	// Output:
	// true
	// {"role":"user","content":"hello"}
	// {"role":"user","content":"and then?"}
}
