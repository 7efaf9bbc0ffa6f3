// Package rollout holds the pieces of aha's reinforcement-learning loop:
// generate a prompt, sample a completion, verify it, turn the verdict into a
// reward.
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
//   - induction: a sequence from a start in 1..5 driven by a hidden cycle of
//     k operations (+a, −b with a, b in 1..4, ×c with c in 2..4), the last
//     term shown as "?". Levels give (k, terms shown): (1,5) (2,6) (2,8)
//     (3,9) (4,10). Kept only when every cycle of length ≤ k that fits the
//     visible terms predicts the same value; |terms| ≤ 10^12. Answer: an
//     integer.
//   - abduction: known atoms, rules "(body) => head" with "and"/"or"/"not"
//     bodies, goals. Reachable means classically entailed by the facts and
//     the rules read as implications (decided by DPLL). Levels give chain
//     depth 2–3 … 6–7, goals 1, 1, 2, 2, 3, distractor rules 3–5 … 10–12 and
//     cycle probability 0.10 … 0.30. Answer: "X is reachable, Y is
//     unreachable" in goal order.
//
// Every prompt asks for reasoning inside <think> </think> and the final
// answer inside <answer> </answer>.
//
// # Rewards (package rollout/verify)
//
// Logic scores the logic tasks: the format reward is +1 when <think>,
// </think>, <answer>, </answer> appear exactly once each and in order (with
// Options.PrefilledThink the opening tag was part of the prompt), else −1.
// The answer, parsed case-insensitively from inside <answer>, earns +2 when
// right, −1.5 when wrong and −2 when unparseable or when the format failed:
// totals 3, −0.5, −1 and −3. The weights are configurable.
//
// Math scores math answers: the last \boxed{…} of the completion (else the
// text inside <answer>) against the reference, equal when equal after the
// Hendrycks MATH normalization or by value (numbers, fractions, surds, π,
// percentages, tuples, intervals, inequalities, sets). It earns 1 or 0 by
// default, whatever the format.
package rollout
