package rollout

import (
	"context"
	"fmt"

	"github.com/aha-inference/aha/rollout/rewardcmd"
	"github.com/aha-inference/aha/rollout/verify"
)

// A Scorer is a reward program consulted after the built-in verifier, as
// rewardcmd.Process is: it gets the record and answers with a reward.
type Scorer interface {
	Score(ctx context.Context, sample any) (rewardcmd.Reward, error)
}

// Score fills a record's verdict and rewards: the built-in verifier of its
// task, then the scorer's answer over it, when there is a scorer. A task
// without a verifier is left to the scorer; without one it is an error.
// The scorer's failure on the sample is recorded in the record (verdict
// verify.RewardError, reward 0), never returned, unless ctx ended.
func Score(ctx context.Context, rec *Record, rewards verify.Rewards, scorer Scorer) error {
	var res verify.Result
	if t, ok := verify.For(rec.Task); ok {
		var err error
		if res, err = t.Verify(rec.Prompt, rec.Completion, rec.Answer, rewards); err != nil {
			return err
		}
	} else if scorer == nil {
		return fmt.Errorf("no verifier for task %q (want %s, or a reward command)", rec.Task, verify.Names())
	}
	rec.ExtractedAnswer, rec.Extraction, rec.Verdict = res.ExtractedAnswer, string(res.Extraction), res.Verdict
	rec.Reward, rec.RewardFormat, rec.RewardAnswer = res.Reward, res.RewardFormat, res.RewardAnswer
	if scorer == nil {
		return nil
	}
	r, err := scorer.Score(ctx, rec)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		rec.RewardError, rec.Verdict, rec.Reward = err.Error(), verify.RewardError, 0
		return nil
	}
	rec.Reward = r.Reward
	if r.RewardFormat != nil {
		rec.RewardFormat = *r.RewardFormat
	}
	if r.RewardAnswer != nil {
		rec.RewardAnswer = *r.RewardAnswer
	}
	if r.Verdict != nil {
		rec.Verdict = *r.Verdict
	}
	if r.ExtractedAnswer != nil {
		rec.ExtractedAnswer = *r.ExtractedAnswer
	}
	return nil
}
