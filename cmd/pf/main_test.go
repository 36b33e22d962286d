package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/processfork/pf/internal/cas/castest"

	"github.com/processfork/pf"
	"github.com/processfork/pf/internal/db"
	"github.com/processfork/pf/internal/serve"
	"github.com/processfork/pf/manifest"
	"github.com/rogpeppe/go-internal/testscript"
	bolt "go.etcd.io/bbolt"
)

func TestMain(m *testing.M) {
	if path := os.Getenv(holdStoreEnv); path != "" {
		os.Exit(holdStoreMain(path))
	}
	code := testscript.RunMain(m, map[string]func() int{
		"pf": func() int { return run(os.Args, osInvocation()) },
	})
	removeBuiltPF()
	os.Exit(code)
}

// TestScripts runs testdata/script/*.txtar, one per command. Each script
// starts in an empty $WORK with PF_STORE=$WORK/store.pf and TZ=UTC, and
// has these commands beside testscript's own:
//
//	exits N prog args...  run prog and check that it exits with status N
//	                      (stdout and stderr are kept for what follows)
//	capture NAME [RE]     set $NAME to the last command's standard output,
//	                      trimmed, and when that is a digest, $NAME_SHORT
//	                      to its first 12 hex digits (as pf shows ids); with
//	                      RE, to the first group RE matches in it
//	corruptblob FILE D    flip a byte of blob D in the store FILE
//	holdstore FILE        open the store FILE read-write in the test
//	                      process until the script ends, as another pf
//	                      process would
//	waitserve SOCKET      wait (up to 20s) until pf serve answers on SOCKET
//	stopserve SOCKET      send SIGTERM to the pf serve answering on SOCKET
//	registry NAME [auth] [tls]  start a real OCI registry (cmdRegistry)
//	killafter D SIG prog args...  run prog and send it SIG (KILL or INT)
//	                      after D unless it ended before; either way is fine
//	killwhen GLOB prog args...  run prog and SIGKILL it as soon as a path
//	                      matching GLOB exists (fails if prog ends first)
//	mkfiles DIR N SIZE V  write N files of SIZE bytes under DIR, version V
//	                      of each (a text naming V and the file)
//	checkfiles DIR N SIZE V...  check that each of those N files is whole:
//	                      exactly one of the versions V
//	isprefix A B          check that file A's bytes begin file B
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			env.Setenv("PF_STORE", filepath.Join(env.WorkDir, "store.pf"))
			env.Setenv("TZ", "UTC")
			env.Setenv("HOME", env.WorkDir)
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exits":       cmdExits,
			"capture":     cmdCapture,
			"holdstore":   cmdHoldStore,
			"corruptblob": cmdCorruptBlob,
			"waitserve":   cmdWaitServe,
			"stopserve":   cmdStopServe,
			"registry":    cmdRegistry,
			"killafter":   cmdKillAfter,
			"killwhen":    cmdKillWhen,
			"mkfiles":     cmdMkfiles,
			"checkfiles":  cmdCheckfiles,
			"isprefix":    cmdIsPrefix,
		},
	})
}

func cmdExits(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exits N prog args...")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			ts.Fatalf("%s: %v", args[1], err)
		}
		got = exit.ExitCode()
	}
	if got != want {
		ts.Fatalf("%s exited with status %d, want %d", args[1], got, want)
	}
}

func cmdCapture(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 || len(args) > 2 {
		ts.Fatalf("usage: capture NAME [REGEXP]")
	}
	out := strings.TrimSpace(ts.ReadFile("stdout"))
	if len(args) == 2 {
		m := regexp.MustCompile(args[1]).FindStringSubmatch(out)
		if len(m) < 2 {
			ts.Fatalf("capture: no group of %q matches in stdout", args[1])
		}
		out = m[1]
	}
	ts.Setenv(args[0], out)
	if d, err := manifest.ParseDigest(out); err == nil {
		ts.Setenv(args[0]+"_SHORT", d.Short())
	}
}

func cmdCorruptBlob(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: corruptblob FILE DIGEST")
	}
	d, err := manifest.ParseDigest(args[1])
	ts.Check(err)
	b, err := bolt.Open(ts.MkAbs(args[0]), 0o600, nil)
	ts.Check(err)
	defer b.Close()
	ts.Check(b.Update(func(tx *bolt.Tx) error { return castest.Damage(tx, db.BucketBlobs, d) }))
}

func cmdHoldStore(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: holdstore FILE")
	}
	s, err := pf.Open(ts.MkAbs(args[0]), nil)
	ts.Check(err)
	ts.Defer(func() { s.Close() })
}

// testInvocation runs pf in the test's working directory with its output
// in out and errs.
func testInvocation(out, errs io.Writer) *invocation {
	dir, err := os.Getwd()
	if err != nil {
		panic(err)
	}
	return bufferedInvocation(dir, out, errs)
}

func cmdWaitServe(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: waitserve SOCKET")
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err := serve.Ping(ts.MkAbs(args[0]))
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("no pf serve on %s: %v", args[0], err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func cmdStopServe(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: stopserve SOCKET")
	}
	info, err := serve.Ping(ts.MkAbs(args[0]))
	ts.Check(err)
	p, err := os.FindProcess(info.Pid)
	ts.Check(err)
	ts.Check(p.Signal(syscall.SIGTERM))
}

func cmdKillAfter(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 3 {
		ts.Fatalf("usage: killafter DURATION KILL|INT prog args...")
	}
	d, err := time.ParseDuration(args[0])
	ts.Check(err)
	sig := map[string]os.Signal{"KILL": os.Kill, "INT": os.Interrupt}[args[1]]
	if sig == nil {
		ts.Fatalf("killafter: signal %q is neither KILL nor INT", args[1])
	}
	cmd := startScriptProg(ts, "killafter", args[2], args[3:])
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
		ts.Logf("%s ended before %v", args[2], d)
	case <-time.After(d):
		cmd.Process.Signal(sig)
		err := <-done
		ts.Logf("%s after %v: %v", args[1], d, err)
	}
}

// startScriptProg starts prog (found in the script's PATH, where
// testscript puts pf) with args, in the script's directory and with its
// store, home, time zone and PATH.
func startScriptProg(ts *testscript.TestScript, caller, prog string, args []string) *exec.Cmd {
	path := ""
	for _, dir := range filepath.SplitList(ts.Getenv("PATH")) {
		if p := filepath.Join(dir, prog); path == "" {
			if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
				path = p
			}
		}
	}
	if path == "" {
		ts.Fatalf("%s: %s not found", caller, prog)
	}
	cmd := exec.Command(path, args...)
	cmd.Dir = ts.MkAbs(".")
	cmd.Env = os.Environ()
	for _, k := range []string{"PF_STORE", "HOME", "TZ", "PATH"} {
		cmd.Env = append(cmd.Env, k+"="+ts.Getenv(k))
	}
	ts.Check(cmd.Start())
	return cmd
}

// cmdKillWhen runs prog and sends it SIGKILL as soon as a path matching
// GLOB (in the script's directory) exists: the kill lands at a known
// point of the work. It fails if prog ends first, or the path never
// appears within a minute.
func cmdKillWhen(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: killwhen GLOB prog args...")
	}
	pattern := ts.MkAbs(args[0])
	cmd := startScriptProg(ts, "killwhen", args[1], args[2:])
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.After(time.Minute)
	for {
		if m, _ := filepath.Glob(pattern); len(m) > 0 {
			cmd.Process.Kill()
			ts.Logf("killed once %s existed: %v", m[0], <-done)
			return
		}
		select {
		case err := <-done:
			ts.Fatalf("%s ended (%v) before %s existed", args[1], err, args[0])
		case <-deadline:
			cmd.Process.Kill()
			<-done
			ts.Fatalf("%s never appeared", args[0])
		case <-time.After(time.Millisecond):
		}
	}
}

// generated is file i of mkfiles: its path under DIR and version v's bytes.
func generated(i, size int, v string) (string, []byte) {
	line := fmt.Sprintf("version %s of file %d\n", v, i)
	b := bytes.Repeat([]byte(line), size/len(line)+1)[:size]
	return filepath.Join(fmt.Sprintf("d%02d", i%20), fmt.Sprintf("f%05d.txt", i)), b
}

func filesArgs(ts *testscript.TestScript, args []string, usage string) (dir string, n, size int) {
	if len(args) < 4 {
		ts.Fatalf("usage: %s", usage)
	}
	n, err := strconv.Atoi(args[1])
	ts.Check(err)
	size, err = strconv.Atoi(args[2])
	ts.Check(err)
	return ts.MkAbs(args[0]), n, size
}

func cmdMkfiles(ts *testscript.TestScript, neg bool, args []string) {
	dir, n, size := filesArgs(ts, args, "mkfiles DIR N SIZE V")
	if neg || len(args) != 4 {
		ts.Fatalf("usage: mkfiles DIR N SIZE V")
	}
	for i := range n {
		rel, b := generated(i, size, args[3])
		p := filepath.Join(dir, rel)
		ts.Check(os.MkdirAll(filepath.Dir(p), 0o755))
		ts.Check(os.WriteFile(p, b, 0o644))
	}
}

func cmdCheckfiles(ts *testscript.TestScript, neg bool, args []string) {
	dir, n, size := filesArgs(ts, args, "checkfiles DIR N SIZE V...")
	if neg {
		ts.Fatalf("unsupported: ! checkfiles")
	}
	counts := map[string]int{}
	for i := range n {
		rel, _ := generated(i, size, "")
		got, err := os.ReadFile(filepath.Join(dir, rel))
		ts.Check(err)
		match := ""
		for _, v := range args[3:] {
			if _, b := generated(i, size, v); bytes.Equal(got, b) {
				match = v
			}
		}
		if match == "" {
			ts.Fatalf("%s is none of the versions %v (%d bytes)", rel, args[3:], len(got))
		}
		counts[match]++
	}
	ts.Logf("versions: %v", counts)
}

func cmdIsPrefix(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: isprefix A B")
	}
	a, b := ts.ReadFile(args[0]), ts.ReadFile(args[1])
	if !strings.HasPrefix(b, a) {
		ts.Fatalf("%s (%d bytes) does not begin %s (%d bytes)", args[0], len(a), args[1], len(b))
	}
}
