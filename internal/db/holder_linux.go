package db

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// holderOf names the process holding path's lock, read from /proc/locks
// (bbolt locks with flock, which records no owner in the file), and its
// command line from /proc/PID/cmdline. ok is false where that cannot be
// found out.
func holderOf(path string) (h Holder, ok bool) {
	info, err := os.Stat(path)
	if err != nil {
		return h, false
	}
	st, isUnix := info.Sys().(*syscall.Stat_t)
	if !isUnix {
		return h, false
	}
	f, err := os.Open("/proc/locks")
	if err != nil {
		return h, false
	}
	defer f.Close()
	// A line: "1: FLOCK  ADVISORY  WRITE 12345 fd:01:1234567 0 EOF".
	inode := fmt.Sprintf(":%d", st.Ino)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[1] != "FLOCK" || fields[4] == "-1" {
			continue
		}
		if strings.HasSuffix(fields[5], inode) {
			pid, err := strconv.Atoi(fields[4])
			if err != nil {
				return h, false
			}
			return Holder{PID: pid, Command: commandOf(pid)}, true
		}
	}
	return h, false
}

// maxCommand bounds the command line a message quotes.
const maxCommand = 60

// commandOf is process pid's command line, its program by base name and
// shortened to maxCommand bytes, or "" if it cannot be read.
func commandOf(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || len(b) == 0 {
		return ""
	}
	args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
	args[0] = filepath.Base(args[0])
	cmd := strings.Join(args, " ")
	if len(cmd) > maxCommand {
		cmd = cmd[:maxCommand] + "..."
	}
	return cmd
}
