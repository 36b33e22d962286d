package worktree_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/processfork/pf"
	"github.com/processfork/pf/manifest"
	"github.com/processfork/pf/worktree"
)

// The checkpoint loop of a coding agent: snapshot the workspace, see what
// the next turn changed, show it as patches, roll back in place, undo the
// roll back.
func Example_checkpoints() {
	tmp, _ := os.MkdirTemp("", "pf-checkpoints")
	defer os.RemoveAll(tmp)
	ws := filepath.Join(tmp, "workspace")
	os.MkdirAll(filepath.Join(ws, "src"), 0o755)
	os.WriteFile(filepath.Join(ws, "src", "main.go"), []byte("package main\n// Command main.\nfunc main() {}\n"), 0o644)
	os.WriteFile(filepath.Join(ws, ".env"), []byte("API_KEY=secret\n"), 0o600)

	store, err := pf.Open(filepath.Join(tmp, "agents.pf"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	ctx := context.Background()
	dir, _ := pf.WorkspaceDir(ws)
	head := &pf.HeadRef{Dir: dir}

	// Checkpoint: the image becomes the workspace's head, kept in the
	// store; .env is left out.
	capture := &worktree.Capture{Root: ws, Store: store}
	checkpoint, err := store.Snapshot(ctx, pf.Snapshot{
		Agent: manifest.Agent{Kind: "my-agent"}, World: capture, Head: head,
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("not stored:", capture.Secrets())

	// The agent's turn.
	os.WriteFile(filepath.Join(ws, "src", "main.go"), []byte("package main\n// Command main.\nfunc main() { run() }\n"), 0o644)
	os.WriteFile(filepath.Join(ws, "notes.txt"), []byte("todo\n"), 0o644)

	// Status and patches: from the head to the directory.
	changes, err := worktree.Status(ctx, store, checkpoint, ws, worktree.StatusOptions{})
	if err != nil {
		log.Fatal(err)
	}
	for _, c := range changes {
		fmt.Println(c.Kind, c.Path)
	}
	p, err := worktree.MakePatch(ctx, changes[1], worktree.DiffSide{Store: store}, worktree.DiffSide{Dir: ws})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(p.Text)

	// Roll back in place; the backup holds the turn.
	res, err := worktree.Restore(ctx, store, checkpoint, ws, worktree.RestoreOptions{Head: head})
	if err != nil {
		log.Fatal(err)
	}
	_, err = os.Stat(filepath.Join(ws, "notes.txt"))
	fmt.Println("restored:", len(res.Changes), "paths; notes.txt gone:", os.IsNotExist(err))

	// Undo the roll back.
	if _, err := worktree.Restore(ctx, store, res.Backup, ws, worktree.RestoreOptions{Head: head, NoBackup: true}); err != nil {
		log.Fatal(err)
	}
	notes, _ := os.ReadFile(filepath.Join(ws, "notes.txt"))
	env, _ := os.ReadFile(filepath.Join(ws, ".env"))
	fmt.Printf("undone: notes.txt %q, .env untouched %q\n", notes, env)
	// Output:
	// not stored: [.env]
	// added notes.txt
	// changed src/main.go
	// diff --git a/src/main.go b/src/main.go
	// --- a/src/main.go
	// +++ b/src/main.go
	// @@ -1,3 +1,3 @@
	//  package main
	//  // Command main.
	// -func main() {}
	// +func main() { run() }
	// restored: 2 paths; notes.txt gone: true
	// undone: notes.txt "todo\n", .env untouched "API_KEY=secret\n"
}
