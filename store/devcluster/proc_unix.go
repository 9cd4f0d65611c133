//go:build unix

package devcluster

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
)

const supported = true

// runAs makes cmd run with u's uid/gid (and no supplementary groups),
// which is how we drop root for initdb and pg_ctl without needing su/sudo.
func runAs(cmd *exec.Cmd, u *osUser) {
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: &syscall.Credential{Uid: uint32(u.uid), Gid: uint32(u.gid)},
	}
}

// ownerUID returns the uid owning fi, or -1 if unknown.
func ownerUID(fi fs.FileInfo) int {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid)
	}
	return -1
}

type procState int

const (
	procGone  procState = iota // no such process
	procAlive                  // looks like the postmaster for dataDir
	procStale                  // zombie, or an unrelated process that reused the PID
)

// postmasterState classifies the PID recorded in dataDir's postmaster.pid.
func postmasterState(pid int, dataDir string) procState {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return procGone
	}
	// kill(0) also succeeds for zombies (common in containers whose init
	// never reaps the orphaned postmaster) and for whatever process got the
	// PID after a reboot. /proc tells those apart; without /proc we assume alive.
	if stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		// The state letter follows the ")" that closes the command name.
		if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
			return procStale
		}
	}
	// A postmaster's working directory is its data directory.
	if cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid)); err == nil {
		want, err := filepath.EvalSymlinks(dataDir)
		if err == nil && cwd != want {
			return procStale
		}
	}
	return procAlive
}
