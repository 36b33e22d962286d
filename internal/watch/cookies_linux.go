//go:build linux

package watch

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// cookieDirPrefix names a watcher's cookie directory in the temporary
// directory; cookieLockName is the file in it its watcher keeps locked,
// named so only once locked (before, it has the suffix cookieLockUnnamed).
const (
	cookieDirPrefix   = "pf-watch-"
	cookieLockName    = "lock"
	cookieLockUnnamed = ".new"
)

// unlockedCookieDirAge is how old a cookie directory without a lock
// file must be before a sweep takes it for abandoned: a watcher makes the
// lock file right after the directory, and directories of pf before the
// lock have none at all.
const unlockedCookieDirAge = time.Hour

// sweepCookieDirs removes the cookie directories in tmp that a killed
// watcher left: the owner's lock is free, or an old directory has no
// lock. It removes only what a watcher makes there (its cookies "c<n>"
// and its lock file), so a directory holding anything else stays; a
// directory it cannot judge stays too. A leftover costs a name in tmp,
// never a wrong capture, so every error is ignored.
func sweepCookieDirs(tmp string) {
	entries, err := os.ReadDir(tmp)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), cookieDirPrefix) {
			continue
		}
		dir := filepath.Join(tmp, e.Name())
		if abandonedCookieDir(dir) {
			removeCookieDir(dir, nil)
		}
	}
}

// abandonedCookieDir reports whether dir is a cookie directory of ours
// whose watcher is gone.
func abandonedCookieDir(dir string) bool {
	info, err := os.Lstat(dir)
	if err != nil || !info.IsDir() {
		return false
	}
	if st, ok := info.Sys().(*syscall.Stat_t); !ok || int(st.Uid) != os.Getuid() {
		return false
	}
	lock, err := os.OpenFile(filepath.Join(dir, cookieLockName), os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return os.IsNotExist(err) && time.Since(info.ModTime()) > unlockedCookieDirAge
	}
	defer lock.Close()
	// A free lock: its watcher's process is gone (the kernel drops a
	// flock when the last descriptor closes). This descriptor's lock is
	// dropped when it closes.
	return unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil
}

// removeCookieDir removes a cookie directory: its cookies, its lock file
// (closing lock, which ends the lock, only after the file is gone), and
// the directory if nothing else is in it.
func removeCookieDir(dir string, lock *os.File) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.Type().IsRegular() && isCookieFile(e.Name()) {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
	if lock != nil {
		lock.Close()
	}
	os.Remove(dir)
}

// isCookieFile reports whether name is a file a watcher makes in its
// cookie directory: the lock (named or not yet), or a cookie "c" followed
// by digits.
func isCookieFile(name string) bool {
	if name == cookieLockName || name == cookieLockName+cookieLockUnnamed {
		return true
	}
	digits := strings.TrimPrefix(name, "c")
	if digits == name || digits == "" {
		return false
	}
	return strings.Trim(digits, "0123456789") == ""
}
