// Package rollout holds aha's reinforcement-learning loop: generate a
// prompt, sample completions, verify them, turn the verdicts into rewards —
// and the files that come out of it. Run is the loop as a library, the one
// aha rollout calls: it renders each problem (Prompts: a chat template
// function and a tokenizer's encoder, a system message, an optional
// "<think>" prefill), asks a Sampler (an *engine.Engine) for n samples of
// it, scores each sample (Score: the verifier its task registered with
// verify.For, then an optional reward program) and appends its record to
// the crash-safe output file, with a progress bar. Problems come from a data
// file or from a generator of package rollout/tasks (Problems.Load).
//
// This package also has the records (one JSON line per sample), the output
// file with its manifest, shards and per-sample seeds, offline scoring of
// any JSON lines (ScoreLines, for aha verify), exported task data sets
// (Export, for aha tasks export), and what aha report, difficulty and
// pairs compute from records: pass@k, difficulty levels, and pairs of
// correct and wrong completions; packages rollout/difficulty and
// rollout/pairs write the files of those two commands.
//
// # Crash safety
//
// Every record is one line written with one write and synced before the
// next; the manifest (model hash, aha version, every argument, template
// hash) is written atomically before the first. A rerun reads the file,
// drops a damaged last line, and asks the engine only for the samples
// missing: sample j of prompt i has seed seed + i·n + j whatever request it
// comes from, so the resumed file holds the same records as an
// uninterrupted run. Shard K/N takes the prompts i with i mod N = K, with
// the same seeds, so N shards together are one unsharded run.
//
// # Tasks (package rollout/tasks)
//
// Every generator is a pure function of (seed, level, index): instance i is
// drawn from a PCG stream seeded by that triple, so data sets can be sharded
// or extended without storing them. Levels run from 1 (easy) to 5.
//
//   - deduction: 3 to 6 nested propositional formulas over A, B, … with
//     ¬ ∧ ∨ → ↔ ⊕ that exactly one assignment satisfies. Levels give
//     (variables, depth): (4,1) (6,2) (8,3) (10,4) (12,5). Answer:
//     "(1) A is True (2) B is False …".
//
//   - induction: a sequence from a start in 1..5 driven by a hidden cycle of
//     k operations (+a, −b with a, b in 1..4, ×c with c in 2..4), the last
//     term shown as "?". Levels give (k, terms shown): (1,5) (2,6) (2,8)
//     (3,9) (4,10). Kept only when every cycle of length ≤ k that fits the
//     visible terms predicts the same value; |terms| ≤ 10^12. Answer: an
//     integer.
//
//   - abduction: known atoms, rules "(body) => head" with "and"/"or"/"not"
//     bodies, goals. Reachable means classically entailed by the facts and
//     the rules read as implications (decided by DPLL). Levels give chain
//     depth 2–3 … 6–7, goals 1, 1, 2, 2, 3, distractor rules 3–5 … 10–12 and
//     cycle probability 0.10 … 0.30. Labels are dealt in blocks of 2^goals
//     instances that hold every pattern of judgements once, so no constant
//     answer ("all reachable") beats the chance rate 2^−goals. Answer: "X is
//     reachable, Y is unreachable" in goal order.
//
//   - math: problems from a data set (package rollout/data: JSONL or
//     Parquet, the TRL and verl layouts), scored by verify.Math.
//
// Every prompt asks for reasoning inside <think> </think> and the final
// answer inside <answer> </answer>.
//
// Tasks register by name once, with a generator per style (tasks.Lookup).
// Style "maa" generates instead the distributions, prompt
// wording and answer layout of the data released with
// Meta-Ability-Alignment (arXiv 2505.10554), with that paper's system
// message: for deduction 3 to 6 unsteered random formulas kept when
// exactly one assignment satisfies them; for induction each level's rule
// families, shares and term counts as measured on the released files
// (constant steps, ratios and alternations at level 1, alternations and a
// hidden middle term at level 2, cycles of 3, 4, 5 operations at levels
// 3–5), not checked for determinacy, as theirs were not; for abduction the
// released premise syntax, three goals and premise counts, but aha's
// chains and balanced labels, since the released labels can be read off
// the known atoms.
//
// tasks.Options go beyond both: Hint shows or hides induction's rule
// family (aha shows it, maa hides it, by default), and UnsatShare deals
// maa deduction puzzles that no assignment satisfies, answered "No
// satisfying assignment exists.", which Logic scores and the reference
// reward cannot.
//
// aha tasks export writes generated tasks as verl parquet, in the released
// files' schema, or as TRL JSON Lines (data.WriteVerl, data.WriteTRL).
//
// # Rewards (package rollout/verify)
//
// Every task registers its verifier by name once (verify.For: math and the
// three logic tasks), and every verdict is a verify.Verdict: correct,
// wrong, unparseable, format_error, unverifiable, and reward_error for a
// sample whose reward program failed.
//
// Logic scores the logic tasks: the format reward is +1 when <think>,
// </think>, <answer>, </answer> appear exactly once each and in order (with
// Options.PrefilledThink the opening tag was part of the prompt), else −1.
// The answer, parsed case-insensitively from inside <answer>, earns +2 when
// right, −1.5 when wrong and −2 when unparseable or when the format failed:
// totals 3, −0.5, −1 and −3. The weights are configurable.
//
// MAA scores the logic tasks exactly as the reward functions released with
// Meta-Ability-Alignment do, on the prompt and completion together: the
// same weights, but an answer must state every variable or goal exactly
// once, and an integer must be bare.
//
// Math scores math answers: the answer is found in tiers (the last run of
// \boxed{…}, else <answer>…</answer>, else a final-answer phrase or the last
// math span, else the last number; the tier is recorded as "extraction" and
// --require can demand a stricter one) and compared with the reference by
// value through a LaTeX expression tree (package rollout/verify/mathexpr:
// exact rationals, identities checked at random points, relations as sets,
// sets, tuples, intervals, ±, matrices), within fixed budgets. It earns 1 or
// 0 by default, whatever the format.
//
// Package rollout/rewardcmd runs a user's own reward program beside these:
// one long-running process, JSON lines in and out, whose failures are
// recorded per sample.
package rollout
