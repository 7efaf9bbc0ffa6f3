//go:build unix

package rewardcmd

import (
	"os"
	"os/exec"
	"syscall"
)

// ownGroup starts the program in a process group of its own, led by the
// shell, so that everything it starts can be killed together.
func ownGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// killGroup kills the whole process group: killing the shell alone would
// leave `cd dir && python3 reward.py` running with nobody to answer to.
// An error means the group is already gone.
func killGroup(p *os.Process) {
	syscall.Kill(-p.Pid, syscall.SIGKILL)
}
