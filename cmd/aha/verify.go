package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"time"

	"github.com/aha-inference/aha/internal/progress"
	"github.com/aha-inference/aha/rollout"
	"github.com/aha-inference/aha/rollout/rewardcmd"
)

func init() {
	register("verify", "score completions from any source offline: one JSON line in, the line with its verdict and reward out", runVerify)
}

func runVerify(args []string) error {
	fs := newFlags("verify", "IN.jsonl [-o OUT.jsonl] [flags]")
	out := fs.String("o", "", "output JSONL file (default: stdout)")
	threads := fs.Int("t", 0, "lines scored at once (0 = one per CPU this process may use)")
	rewardCmd := fs.String("reward-cmd", "", "score with this long-running command (sh -c), as in aha rollout")
	rewardTimeout := fs.Duration("reward-timeout", 30*time.Second, "with --reward-cmd: longest wait for one reward")
	var rf rewardFlags
	rf.register(fs, "the completions follow a prefilled \"<think>\" (the format check then counts it)")
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usagef("give one input file (- for stdin)")
	}
	rewards, err := rf.rewards()
	if err != nil {
		return err
	}

	in, total, err := openInput(rest[0])
	if err != nil {
		return err
	}
	defer in.Close()
	w := io.Writer(os.Stdout)
	if *out != "" {
		f, err := os.Create(*out)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	opt := rollout.LineOptions{Rewards: rewards, Workers: *threads}
	if *rewardCmd != "" {
		scorer := rewardcmd.New(*rewardCmd, *rewardTimeout, os.Stderr)
		defer scorer.Close()
		opt.Scorer = scorer
	}
	if opt.Workers <= 0 {
		opt.Workers = runtime.GOMAXPROCS(0)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	bar := progress.New(os.Stderr, "verify", total)
	opt.Done = func() { bar.Add(1) }
	start := time.Now()
	st, err := rollout.ScoreLines(ctx, in, bw, opt)
	if err != nil {
		return err
	}
	bar.Finish()
	if err := bw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "%d lines: %d correct, %d with errors, mean reward %.3f, %.0f lines/s\n",
		st.Lines, st.Correct, st.Errors, st.Reward/float64(max(st.Lines-st.Errors, 1)), float64(st.Lines)/time.Since(start).Seconds())
	return nil
}

// openInput opens the input and counts its lines for the progress bar
// (stdin's are not known).
func openInput(path string) (io.ReadCloser, int64, error) {
	if path == "-" {
		return io.NopCloser(os.Stdin), 0, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	var n int64
	buf := make([]byte, 1<<20)
	for {
		k, err := f.Read(buf)
		n += int64(bytes.Count(buf[:k], []byte{'\n'}))
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			f.Close()
			return nil, 0, err
		}
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, n, nil
}
