package rollout

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aha-inference/aha/engine"
	"github.com/aha-inference/aha/rollout/data"
	"github.com/aha-inference/aha/rollout/rewardcmd"
	"github.com/aha-inference/aha/rollout/verify"
	"github.com/aha-inference/aha/tokenizer/template"
)

// seedSampler answers every sample with \boxed{its seed}, one token
// holding the seed, and counts the samples it drew.
type seedSampler struct {
	mu    sync.Mutex
	drawn []uint64
	fail  uint64 // a seed whose sample fails the request (0: none)
}

func (s *seedSampler) Generate(ctx context.Context, req engine.Request, emit func(engine.Event) error) (*engine.Output, error) {
	for i := range max(req.N, 1) {
		seed := req.Sampling.Seed + uint64(i)
		if seed == s.fail {
			return nil, errors.New("the device fell over")
		}
		s.mu.Lock()
		s.drawn = append(s.drawn, seed)
		s.mu.Unlock()
		if err := emit(engine.Event{Sample: i, ID: int(seed), Text: fmt.Sprintf(`\boxed{%d}`, seed), Logprob: -0.5, Finish: engine.FinishStop}); err != nil {
			return nil, err
		}
	}
	return &engine.Output{}, nil
}

// mathProblems are n math problems whose answers are the seeds of sample
// 1 of each under SampleSeed(seed, i, perProblem, 1).
func mathProblems(n, perProblem int, seed uint64) []data.Problem {
	ps := make([]data.Problem, n)
	for i := range ps {
		ps[i] = data.Problem{Messages: []template.Message{{"role": "user", "content": fmt.Sprint("problem ", i)}},
			Answer: fmt.Sprint(SampleSeed(seed, i, perProblem, 1)), Task: "math"}
	}
	return ps
}

// testOptions renders a prompt as its user text, one token per byte.
func testOptions(out string, n int, seed uint64) Options {
	encode := func(s string) []int {
		ids := make([]int, len(s))
		for i := range s {
			ids[i] = int(s[i])
		}
		return ids
	}
	return Options{Out: out, N: n, Request: engine.Request{Sampling: engine.SamplingParams{Seed: seed}},
		Rewards: verify.DefaultRewards(), Concurrency: 3,
		Prompts: Prompts{Encode: encode, Chat: func(msgs []template.Message) ([]int, string, error) {
			var b strings.Builder
			for _, m := range msgs {
				fmt.Fprintf(&b, "%s: %s\n", m["role"], m["content"])
			}
			return encode(b.String()), b.String(), nil
		}}}
}

// records reads rollout files as records in key order, elapsed times
// zeroed, so that runs compare.
func records(t *testing.T, paths ...string) []Record {
	t.Helper()
	recs, err := ReadRecords(paths...)
	if err != nil {
		t.Fatal(err)
	}
	for i := range recs {
		recs[i].Elapsed = 0
	}
	slices.SortFunc(recs, func(a, b Record) int {
		return cmp.Or(cmp.Compare(a.PromptID, b.PromptID), cmp.Compare(a.SampleIndex, b.SampleIndex))
	})
	return recs
}

// TestRun: every sample of every problem is drawn once with its seed,
// verified and scored; a rerun draws nothing, a run cut short resumes to
// the same file, and shards together are the unsharded run.
func TestRun(t *testing.T) {
	dir := t.TempDir()
	const n, seed = 3, 40
	problems := mathProblems(5, n, seed)
	full := filepath.Join(dir, "full.jsonl")
	s := &seedSampler{}
	sum, err := Run(context.Background(), s, problems, testOptions(full, n, seed))
	if err != nil {
		t.Fatal(err)
	}
	if sum.Records != 15 || sum.Samples != 15 || sum.Resumed != 0 || sum.Tokens != 15 {
		t.Errorf("summary %+v, want 15 new records of one token each", sum)
	}
	recs, err := ReadRecords(full)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		want := SampleSeed(seed, r.PromptID, n, r.SampleIndex)
		correct := r.SampleIndex == 1
		if r.Seed != want || r.Completion != fmt.Sprintf(`\boxed{%d}`, want) || r.Correct() != correct ||
			r.Reward != map[bool]float64{true: 1, false: 0}[correct] || r.Prompt != fmt.Sprintf("user: problem %d\n", r.PromptID) ||
			!slices.Equal(r.Logprobs, []float64{-0.5}) {
			t.Errorf("record %v: %+v", r.Key(), r)
		}
	}
	want := records(t, full)

	again := &seedSampler{}
	if sum, err := Run(context.Background(), again, problems, testOptions(full, n, seed)); err != nil || len(again.drawn) != 0 || sum.Resumed != 15 {
		t.Errorf("rerun drew %v (%+v, %v), want nothing", again.drawn, sum, err)
	}

	// A run that fails at one sample keeps the others and resumes.
	cut := filepath.Join(dir, "cut.jsonl")
	opt := testOptions(cut, n, seed)
	opt.Concurrency = 1
	if _, err := Run(context.Background(), &seedSampler{fail: SampleSeed(seed, 2, n, 0)}, problems, opt); err == nil || !strings.Contains(err.Error(), "prompt 2: the device fell over") {
		t.Fatalf("failing run: %v", err)
	}
	resumed := &seedSampler{}
	if _, err := Run(context.Background(), resumed, problems, testOptions(cut, n, seed)); err != nil {
		t.Fatal(err)
	}
	if got := records(t, cut); !reflect.DeepEqual(got, want) || len(resumed.drawn) == 0 || len(resumed.drawn) == 15 {
		t.Errorf("resumed run drew %d samples and wrote %d records; want some of 15 and the full run's records", len(resumed.drawn), len(got))
	}

	var shards []string
	for k := range 2 {
		path := filepath.Join(dir, fmt.Sprintf("shard%d.jsonl", k))
		opt := testOptions(path, n, seed)
		opt.Shard = Shard{k, 2}
		if _, err := Run(context.Background(), &seedSampler{}, problems, opt); err != nil {
			t.Fatal(err)
		}
		shards = append(shards, path)
	}
	if got := records(t, shards...); !reflect.DeepEqual(got, want) {
		t.Errorf("two shards wrote %d records, not the unsharded run's %d", len(got), len(want))
	}
}

// failingScorer fails every sample; overriding answers with its reward.
type failingScorer struct{ reward *rewardcmd.Reward }

func (f failingScorer) Score(ctx context.Context, sample any) (rewardcmd.Reward, error) {
	if f.reward != nil {
		return *f.reward, nil
	}
	return rewardcmd.Reward{}, errors.New("exit status 1")
}

func TestScore(t *testing.T) {
	ctx := context.Background()
	logic := &Record{Task: "induction", Answer: "7", Completion: "<think>x</think><answer>7</answer>"}
	if err := Score(ctx, logic, verify.DefaultRewards(), nil); err != nil || logic.Verdict != verify.Correct || logic.Reward != 3 {
		t.Errorf("logic: %+v %v", logic, err)
	}
	maa := &Record{Task: "induction", Prompt: "Assistant:", Answer: "7", Completion: "<think>x</think><answer>7</answer>"}
	rw := verify.DefaultRewards()
	rw.Scheme = verify.SchemeMAA
	if err := Score(ctx, maa, rw, nil); err != nil || maa.Verdict != verify.Correct || maa.Reward != 3 {
		t.Errorf("maa: %+v %v", maa, err)
	}
	if err := Score(ctx, &Record{Task: "riddles"}, verify.DefaultRewards(), nil); err == nil || !strings.Contains(err.Error(), `no verifier for task "riddles"`) {
		t.Errorf("unknown task without a scorer: %v", err)
	}
	failed := &Record{Task: "math", Answer: "4", Completion: `\boxed{4}`}
	if err := Score(ctx, failed, verify.DefaultRewards(), failingScorer{}); err != nil ||
		failed.Verdict != verify.RewardError || failed.Reward != 0 || failed.RewardError != "exit status 1" {
		t.Errorf("failing scorer: %+v %v", failed, err)
	}
	custom := verify.Verdict("custom")
	answered := &Record{Task: "riddles", Answer: "4", Completion: "4"}
	if err := Score(ctx, answered, verify.DefaultRewards(), failingScorer{&rewardcmd.Reward{Reward: 0.5, Verdict: &custom}}); err != nil ||
		answered.Verdict != custom || answered.Reward != 0.5 {
		t.Errorf("scorer's answer: %+v %v", answered, err)
	}
	// The verdict's string is what files have always held.
	b, _ := json.Marshal(failed)
	if !strings.Contains(string(b), `"verdict":"reward_error"`) {
		t.Errorf("record JSON %s", b)
	}
}

func TestPromptsRender(t *testing.T) {
	p := testOptions("", 1, 0).Prompts
	user := data.Problem{Messages: []template.Message{{"role": "user", "content": "hi"}}}
	own := data.Problem{Messages: []template.Message{{"role": "system", "content": "mine"}, {"role": "user", "content": "hi"}}}
	for _, c := range []struct {
		p       Prompts
		problem data.Problem
		want    string
	}{
		{p, user, "user: hi\n"},
		{Prompts{Chat: p.Chat, Encode: p.Encode, System: "sys"}, user, "system: sys\nuser: hi\n"},
		{Prompts{Chat: p.Chat, Encode: p.Encode, System: "sys"}, own, "system: mine\nuser: hi\n"},
		{Prompts{Chat: p.Chat, Encode: p.Encode, PrefillThink: true}, user, "user: hi\n<think>"},
		{Prompts{Chat: p.Chat, Encode: p.Encode, System: "sys", Raw: true}, user, "hi"},
		{Prompts{Encode: p.Encode, Raw: true}, user, "hi"},
	} {
		text, ids, err := c.p.Render(c.problem)
		if err != nil || text != c.want || len(ids) != len(c.want) {
			t.Errorf("%+v: %q (%d ids), %v; want %q", c.p, text, len(ids), err, c.want)
		}
	}
	for _, bad := range []Prompts{{Encode: p.Encode}, {Chat: p.Chat, PrefillThink: true}, {Raw: true}} {
		if _, _, err := bad.Render(user); err == nil {
			t.Errorf("%+v rendered", bad)
		}
	}
	if _, _, err := p.Render(data.Problem{}); err == nil {
		t.Error("a problem without messages rendered")
	}
}

func TestProblemsLoad(t *testing.T) {
	gen := Problems{Task: "deduction", Level: 1, Count: 4, Seed: 3}
	all, err := gen.Load(All)
	if err != nil || len(all) != 4 {
		t.Fatalf("%d problems, %v", len(all), err)
	}
	half, err := gen.Load(Shard{1, 2})
	if err != nil || len(half) != 4 {
		t.Fatalf("%d problems, %v", len(half), err)
	}
	for i, p := range half {
		if inShard := i%2 == 1; inShard != (p.Answer != "") || inShard && p.Answer != all[i].Answer {
			t.Errorf("problem %d of shard 1/2: %+v", i, p)
		}
	}
	maa := Problems{Task: "deduction", Style: "maa", Level: 1, Count: 1, Seed: 3}
	for _, own := range []bool{false, true} {
		maa.TaskSystem = own
		ps, err := maa.Load(All)
		if err != nil || (ps[0].Messages[0]["role"] == "system") != own {
			t.Errorf("maa style, TaskSystem %v: %+v %v", own, ps, err)
		}
	}
	for _, bad := range []Problems{{Task: "riddles", Level: 1, Count: 1}, {Task: "deduction", Level: 9, Count: 1}, {Task: "deduction", Level: 1}} {
		if _, err := bad.Load(All); err == nil {
			t.Errorf("%+v loaded", bad)
		}
	}

	path := filepath.Join(t.TempDir(), "d.jsonl")
	if err := os.WriteFile(path, []byte(`{"prompt": "2+2?", "answer": "4"}`+"\n"+`{"prompt": "a riddle", "answer": "x", "task": "riddles"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := (Problems{Data: path}).Load(All); err == nil || !strings.Contains(err.Error(), `row 2: no verifier for task "riddles"`) {
		t.Errorf("a task without a verifier: %v", err)
	}
	if ps, err := (Problems{Data: path, AnyTask: true}).Load(All); err != nil || len(ps) != 2 || ps[1].Task != "riddles" {
		t.Errorf("AnyTask: %+v %v", ps, err)
	}
}
