package rewardcmd

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Whether the program timed out, died or was closed, nothing it started
// is left running: neither the children it noted in its pids file nor
// anything else in its process group.
func TestRewardNoProcessLeftBehind(t *testing.T) {
	for _, c := range []struct {
		name string
		end  func(p *Process) error // ends the program after it noted a child
	}{
		{"timeout", func(p *Process) error {
			_, err := score(p, "hang")
			return wantError(err, "no answer")
		}},
		{"exit", func(p *Process) error {
			if _, err := score(p, "orphan"); err != nil {
				return err
			}
			_, err := score(p, "die")
			return wantError(err, "exit status 3")
		}},
		{"close", func(p *Process) error {
			if _, err := score(p, "orphan"); err != nil {
				return err
			}
			return p.Close()
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, dir := script(t, time.Second)
			defer p.Close()
			if _, err := score(p, "ok"); err != nil {
				t.Fatal(err)
			}
			group := p.cmd.Process.Pid
			if err := c.end(p); err != nil {
				t.Fatal(err)
			}
			noted, err := os.ReadFile(filepath.Join(dir, "pids"))
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range strings.Fields(string(noted)) {
				pid, err := strconv.Atoi(f)
				if err != nil {
					t.Fatalf("pids file: %v", err)
				}
				if running(func(p procStat) bool { return p.pid == pid }) {
					t.Errorf("process %d, started by the program, still runs", pid)
				}
			}
			if running(func(p procStat) bool { return p.group == group }) {
				t.Errorf("process group %d still has running processes", group)
			}
		})
	}
}

func wantError(err error, want string) error {
	if err == nil || !strings.Contains(err.Error(), want) {
		return fmt.Errorf("error %v, want one containing %q", err, want)
	}
	return nil
}

// procStat is what /proc/PID/stat says of a process that concerns the test.
type procStat struct {
	pid, group int
}

// running reports whether a live process matches, waiting up to two
// seconds for killed ones to die. Zombies count as dead: only their
// parent (possibly init, outside the test's control) can reap them.
func running(match func(procStat) bool) bool {
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		found := false
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
			if err != nil {
				continue // ended meanwhile
			}
			// pid (comm) state ppid pgrp …; comm may hold spaces and parentheses.
			fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
			if len(fields) < 3 || fields[0] == "Z" || fields[0] == "X" {
				continue
			}
			group, _ := strconv.Atoi(fields[2])
			if match(procStat{pid, group}) {
				found = true
			}
		}
		if !found || time.Now().After(deadline) {
			return found
		}
	}
}
