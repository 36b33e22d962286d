//go:build linux

package watch

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// watcherProcessRoot, set in a test binary's environment, makes it a
// process that watches that root, prints its cookie directory and waits
// to be killed (see TestMain).
const watcherProcessRoot = "PF_TEST_WATCHER_ROOT"

func TestMain(m *testing.M) {
	if root := os.Getenv(watcherProcessRoot); root != "" {
		w, err := newWatcher(root)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println(w.cookies)
		select {}
	}
	os.Exit(m.Run())
}

// startWatcherProcess starts a process watching root with tmp as its
// temporary directory and returns it with its cookie directory.
func startWatcherProcess(t *testing.T, root, tmp string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), watcherProcessRoot+"="+root, "TMPDIR="+tmp)
	out, err := cmd.StdoutPipe()
	must(t, err)
	cmd.Stderr = os.Stderr
	must(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("watcher process: %v", err)
	}
	return cmd, strings.TrimSpace(line)
}

// TestWatcher_KilledWatchersCookiesSwept: a watcher whose process is
// killed leaves its cookie directory behind; the next watcher removes it,
// and leaves alone a live watcher's, a young directory without a lock,
// and a directory holding anything a watcher does not make.
func TestWatcher_KilledWatchersCookiesSwept(t *testing.T) {
	tmp := t.TempDir()
	root, err := filepath.EvalSymlinks(t.TempDir())
	must(t, err)

	killed, killedCookies := startWatcherProcess(t, root, tmp)
	_, liveCookies := startWatcherProcess(t, root, tmp)
	must(t, killed.Process.Signal(syscall.SIGKILL))
	killed.Wait()

	old := time.Now().Add(-2 * unlockedCookieDirAge)
	oldUnlocked := filepath.Join(tmp, cookieDirPrefix+"old")
	must(t, os.Mkdir(oldUnlocked, 0o700))
	must(t, os.WriteFile(filepath.Join(oldUnlocked, "c7"), nil, 0o600))
	must(t, os.Chtimes(oldUnlocked, old, old))
	youngUnlocked := filepath.Join(tmp, cookieDirPrefix+"young")
	must(t, os.Mkdir(youngUnlocked, 0o700))
	foreign := filepath.Join(tmp, cookieDirPrefix+"foreign")
	must(t, os.Mkdir(foreign, 0o700))
	must(t, os.WriteFile(filepath.Join(foreign, "notes.txt"), []byte("not a cookie"), 0o600))
	must(t, os.Chtimes(foreign, old, old))

	t.Setenv("TMPDIR", tmp)
	w, err := newWatcher(root)
	must(t, err)
	defer w.Close()

	for dir, want := range map[string]bool{
		killedCookies: false, oldUnlocked: false,
		liveCookies: true, youngUnlocked: true, foreign: true, w.cookies: true,
	} {
		if _, err := os.Lstat(dir); (err == nil) != want {
			t.Errorf("%s: exists %v, want %v", filepath.Base(dir), err == nil, want)
		}
	}
	if _, err := os.Lstat(filepath.Join(foreign, "notes.txt")); err != nil {
		t.Errorf("the sweep removed a file no watcher makes: %v", err)
	}

	must(t, w.Close())
	if _, err := os.Lstat(w.cookies); !os.IsNotExist(err) {
		t.Errorf("Close left its cookie directory: %v", err)
	}
}

// TestWatcher_Barrier_OneCookie: the barrier renames one cookie file,
// so its directory holds the lock and that cookie whatever the number of
// barriers; a cookie removed behind the watcher's back is made again,
// and Close removes the directory.
func TestWatcher_Barrier_OneCookie(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	root, err := filepath.EvalSymlinks(t.TempDir())
	must(t, err)
	w, err := newWatcher(root)
	must(t, err)
	defer w.Close()
	cookies := func() []string {
		entries, err := os.ReadDir(w.cookies)
		must(t, err)
		var names []string
		for _, e := range entries {
			if e.Name() != cookieLockName {
				names = append(names, e.Name())
			}
		}
		return names
	}
	for i := range 20 {
		if i == 10 {
			must(t, os.Remove(filepath.Join(w.cookies, w.cookie)))
		}
		ok, err := w.barrier(t.Context())
		must(t, err)
		if !ok {
			t.Fatalf("barrier %d timed out", i)
		}
		if got, want := cookies(), []string{fmt.Sprintf("c%d", i+1)}; !slices.Equal(got, want) {
			t.Fatalf("after barrier %d the cookie directory holds %q, want %q", i, got, want)
		}
	}
	must(t, w.Close())
	if _, err := os.Lstat(w.cookies); !os.IsNotExist(err) {
		t.Errorf("Close left its cookie directory: %v", err)
	}
}
