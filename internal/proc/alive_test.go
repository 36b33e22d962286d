package proc_test

import (
	"os"
	"os/exec"
	"testing"

	"github.com/processfork/pf/internal/proc"
)

func TestAlive(t *testing.T) {
	if !proc.Alive(os.Getpid()) {
		t.Fatal("this process is not alive")
	}
	cmd := exec.Command(os.Args[0], "-test.run", "^$")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if proc.Alive(cmd.Process.Pid) {
		t.Fatalf("pid %d, which exited and was reaped, is alive", cmd.Process.Pid)
	}
	if proc.Alive(0) || proc.Alive(-1) {
		t.Fatal("pid 0 or -1 is alive")
	}
}
