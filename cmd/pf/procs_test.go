package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/processfork/pf"
)

var (
	buildOnce sync.Once
	builtDir  string
	builtPF   string
	buildErr  error
)

// buildPF builds the pf command once per test process, into a directory
// of its own (other test processes, of other checkouts, build theirs), for
// tests and benchmarks that run pf as separate processes. TestMain removes
// it. The directory and binary can be run by any user (see otherUser).
func buildPF(tb testing.TB) string {
	buildOnce.Do(func() {
		if builtDir, buildErr = os.MkdirTemp("", "pf-test-bin-"); buildErr != nil {
			return
		}
		if buildErr = os.Chmod(builtDir, 0o755); buildErr != nil {
			return
		}
		builtPF = filepath.Join(builtDir, "pf")
		out, err := exec.Command("go", "build", "-o", builtPF, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		tb.Fatal(buildErr)
	}
	return builtPF
}

func removeBuiltPF() {
	if builtDir != "" {
		os.RemoveAll(builtDir)
	}
}

// otherUser returns a new directory that an unprivileged user may write
// in, and asUser, which makes a command run as that user: nobody when the
// tests run as root (as CI does), else the tests' own user, who is one
// already.
func otherUser(t *testing.T) (dir string, asUser func(*exec.Cmd) *exec.Cmd) {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("no other user to run as")
	}
	dir, err := os.MkdirTemp("", "pf-other-user-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if os.Getuid() != 0 {
		return dir, func(c *exec.Cmd) *exec.Cmd { return c }
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	return dir, func(c *exec.Cmd) *exec.Cmd {
		c.SysProcAttr = otherUserAttr(nobody)
		return c
	}
}

// nobody is the user id of the unprivileged user root's tests run as.
const nobody = 65534

// holdStoreEnv makes the test binary hold the store it names read-write
// until its standard input closes, as a long pf snapshot would: see
// startHolder. With holdReadOnlyEnv set too, it holds the store as a
// reader, as a long pf verify --deep would.
const (
	holdStoreEnv    = "PF_TEST_HOLD_STORE"
	holdReadOnlyEnv = "PF_TEST_HOLD_READ_ONLY"
)

func holdStoreMain(path string) int {
	s, err := pf.Open(path, &pf.Options{ReadOnly: os.Getenv(holdReadOnlyEnv) != ""})
	if err != nil {
		fmt.Println("open:", err)
		return 1
	}
	defer s.Close()
	fmt.Println("holding")
	io.Copy(io.Discard, os.Stdin)
	return 0
}

// startHolder starts a process that holds the store at path until the
// test ends, and returns its pid.
func startHolder(t *testing.T, path string) int {
	t.Helper()
	return startHolderEnv(t, holdStoreEnv+"="+path)
}

// startReader starts a process that holds the store at path as a reader
// (a shared lock, as pf verify --deep takes) until the test ends.
func startReader(t *testing.T, path string) int {
	t.Helper()
	return startHolderEnv(t, holdStoreEnv+"="+path, holdReadOnlyEnv+"=1")
}

func startHolderEnv(t *testing.T, env ...string) int {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), env...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if line != "holding\n" {
		t.Fatalf("holder: %q %v", line, err)
	}
	return cmd.Process.Pid
}
