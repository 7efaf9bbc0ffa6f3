//go:build !unix

package rewardcmd

import (
	"os"
	"os/exec"
)

// ownGroup does nothing where there are no process groups to use.
func ownGroup(cmd *exec.Cmd) {}

// killGroup kills the process alone where there are no process groups.
// An error means it has already ended.
func killGroup(p *os.Process) {
	p.Kill()
}
