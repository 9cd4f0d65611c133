//go:build !unix

package devcluster

import (
	"io/fs"
	"os/exec"
)

// The dev cluster relies on unix sockets, uid switching and /proc-style
// process checks; elsewhere Start refuses up front and these are never used.
const supported = false

func runAs(cmd *exec.Cmd, u *osUser) {}

func ownerUID(fi fs.FileInfo) int { return -1 }

type procState int

const (
	procGone procState = iota
	procAlive
	procStale
)

func postmasterState(pid int, dataDir string) procState { return procAlive }
