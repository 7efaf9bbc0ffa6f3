package engine

import (
	"fmt"
	"slices"
	"testing"
)

// The scheduler's tables use blocks of 4 positions. A unit's blocks are
// listed with their holders; decoding samples hold whole blocks unless a
// case says otherwise.

// decoding is a sample of request order, index i, about to decode: it
// holds len(blocks)·4 positions, its last block full, so its next token
// needs a new block.
func decoding(order uint64, i int, blocks ...int) schedUnit {
	return schedUnit{Age: age{order, i}, Sample: true, Seq: true, Blocks: blocks, Len: 4 * len(blocks), Feed: 1, RowsFrom: -1}
}

// prompt is a root of request order with feed tokens of its prompt still
// to compute after the len positions its blocks hold.
func prompt(order uint64, feed int, blocks ...int) schedUnit {
	return schedUnit{Age: age{order, -1}, Seq: true, Blocks: blocks, Len: 4 * len(blocks), Feed: feed, RowsFrom: -1}
}

// holders counts each block once per listing.
func holders(blocks ...int) map[int]int {
	h := map[int]int{}
	for _, b := range blocks {
		h[b]++
	}
	return h
}

// TestSchedule plans steps from hand-made states and checks every part
// of the plan, and that planning leaves the state as it was.
func TestSchedule(t *testing.T) {
	for _, tc := range []struct {
		name  string
		state schedState
		want  schedPlan
	}{{
		name: "decode tokens first, oldest first, then a prompt chunk within the budget",
		state: schedState{TokenBudget: 8, MaxSeqs: 8, FreeBlocks: 10, Holders: holders(0, 1, 2),
			Units: []schedUnit{prompt(3, 10), decoding(2, 0, 1), decoding(1, 0, 0, 2)}},
		want: schedPlan{Run: []schedRun{{Unit: 2, Tokens: 1, Logits: 1}, {Unit: 1, Tokens: 1, Logits: 1}, {Unit: 0, Tokens: 6}}},
	}, {
		name: "the last chunk of a prompt wants the last row",
		state: schedState{TokenBudget: 8, MaxSeqs: 8, FreeBlocks: 10,
			Units: []schedUnit{prompt(1, 5)}},
		want: schedPlan{Run: []schedRun{{Unit: 0, Tokens: 5, Logits: 1}}},
	}, {
		name: "a prompt wanting its logits from a position on gets those rows",
		state: schedState{TokenBudget: 16, MaxSeqs: 8, FreeBlocks: 10, Holders: holders(0),
			Units: []schedUnit{{Age: age{1, -1}, Seq: true, Blocks: []int{0}, Len: 4, Feed: 7, RowsFrom: 6}}},
		want: schedPlan{Run: []schedRun{{Unit: 0, Tokens: 7, Logits: 5}}},
	}, {
		name: "a prompt chunk halves until its blocks fit",
		state: schedState{TokenBudget: 512, MaxSeqs: 8, FreeBlocks: 2,
			Units: []schedUnit{prompt(1, 16)}},
		want: schedPlan{Run: []schedRun{{Unit: 0, Tokens: 8}}},
	}, {
		name: "a shared, partly filled last block is copied before it is written",
		state: schedState{TokenBudget: 8, MaxSeqs: 8, FreeBlocks: 1, Holders: holders(0, 0),
			Units: []schedUnit{
				{Age: age{1, 0}, Sample: true, Seq: true, Blocks: []int{0}, Len: 3, Feed: 1, RowsFrom: -1},
				{Age: age{1, 1}, Sample: true, Seq: true, Blocks: []int{0}, Len: 3, Feed: 1, RowsFrom: -1},
			}},
		// The first takes the one free block for its copy; the second then
		// has none and, the newest, waits preempted.
		want: schedPlan{Preempt: []int{1}, Run: []schedRun{{Unit: 0, Tokens: 1, Logits: 1}}},
	}, {
		name: "a sample that cannot grow preempts the newest sequence, a sibling included",
		state: schedState{TokenBudget: 8, MaxSeqs: 8, Holders: holders(0, 0, 0, 1, 2, 3),
			// Three samples share the prompt's block 0; each holds one
			// block of its own. The newest is the sibling with index 2.
			Units: []schedUnit{decoding(1, 1, 0, 2), decoding(1, 2, 0, 3), decoding(1, 0, 0, 1)}},
		want: schedPlan{Preempt: []int{1, 0}, Run: []schedRun{{Unit: 2, Tokens: 1, Logits: 1}}},
	}, {
		name: "a sample with nothing newer to preempt waits itself; a scoring root is never preempted",
		state: schedState{TokenBudget: 8, MaxSeqs: 8, Holders: holders(0, 1),
			Units: []schedUnit{decoding(1, 0, 0), {Age: age{2, -1}, Seq: true, Blocks: []int{1}, Len: 4, Feed: 3, RowsFrom: 2}}},
		// The scoring root then runs on the block the sample gave back.
		want: schedPlan{Preempt: []int{0}, Run: []schedRun{{Unit: 1, Tokens: 3, Logits: 3}}},
	}, {
		name: "a preempted sequence restarts on its cached blocks",
		state: schedState{TokenBudget: 8, MaxSeqs: 8, FreeBlocks: 2, Holders: holders(7, 8),
			Cached: []cachedBlock{{Key: 70, Block: 7, Used: 1}, {Key: 80, Block: 8, Used: 1, Depth: 1}},
			Units:  []schedUnit{{Age: age{1, 0}, Sample: true, Feed: 10, RowsFrom: -1, Attach: []int{7, 8}}}},
		want: schedPlan{Attach: []int{0}, Run: []schedRun{{Unit: 0, Tokens: 2, Logits: 1}}},
	}, {
		name: "a sequence does not attach to cached blocks the step already counts on",
		state: schedState{TokenBudget: 8, MaxSeqs: 8, Holders: holders(0, 9),
			Cached: []cachedBlock{{Key: 90, Block: 9, Used: 1}},
			Units:  []schedUnit{decoding(1, 0, 0), {Age: age{2, 0}, Sample: true, Feed: 6, RowsFrom: -1, Attach: []int{9}}}},
		// Block 9 is evicted for the decode token's block instead.
		want: schedPlan{Evict: []uint64{90}, Run: []schedRun{{Unit: 0, Tokens: 1, Logits: 1}}},
	}, {
		name: "requests are admitted in arrival order while the samples fit",
		state: schedState{TokenBudget: 64, MaxSeqs: 4, Running: 1, Admit: true, FreeBlocks: 20, Holders: holders(0),
			Units: []schedUnit{decoding(1, 0, 0)},
			Queue: []schedRequest{{N: 2, Tokens: 5, Feed: 5, RowsFrom: -1}, {N: 2, Tokens: 3, Feed: 3, RowsFrom: -1}, {N: 1, Tokens: 3, Feed: 3, RowsFrom: -1}}},
		// The second would make five samples; the third does not jump it.
		want: schedPlan{Admit: 1, Run: []schedRun{{Unit: 0, Tokens: 1, Logits: 1}, {Unit: 1, Tokens: 5, Logits: 1}}},
	}, {
		name: "a request is admitted only with room for its prompt, a block to grow into and one per sample",
		state: schedState{TokenBudget: 64, MaxSeqs: 8, Admit: true, FreeBlocks: 5,
			Queue: []schedRequest{{N: 2, Tokens: 9, Feed: 9, RowsFrom: -1}, {N: 1, Tokens: 9, Feed: 9, RowsFrom: -1}}},
		// The first needs 9/4 + 1 + 2 = 5 blocks and takes 3; the second
		// needs 4 and 2 are left.
		want: schedPlan{Admit: 1, Run: []schedRun{{Unit: 0, Tokens: 9, Logits: 1}}},
	}, {
		name: "an admitted request starts on its cached blocks",
		state: schedState{TokenBudget: 64, MaxSeqs: 8, Admit: true, FreeBlocks: 4, Holders: holders(5),
			Cached: []cachedBlock{{Key: 50, Block: 5}},
			Queue:  []schedRequest{{N: 1, Tokens: 10, Feed: 10, RowsFrom: -1, Attach: []int{5}}}},
		want: schedPlan{Admit: 1, Run: []schedRun{{Unit: 0, Tokens: 6, Logits: 1}}},
	}, {
		name: "nothing is admitted in a step that preempts",
		state: schedState{TokenBudget: 8, MaxSeqs: 8, Admit: true, Holders: holders(0, 1),
			Units: []schedUnit{decoding(1, 0, 0), decoding(2, 0, 1)},
			Queue: []schedRequest{{N: 1, Tokens: 1, Feed: 1, RowsFrom: -1}}},
		want: schedPlan{Preempt: []int{1}, Run: []schedRun{{Unit: 0, Tokens: 1, Logits: 1}}},
	}, {
		name: "admission off",
		state: schedState{TokenBudget: 8, MaxSeqs: 8, FreeBlocks: 8,
			Queue: []schedRequest{{N: 1, Tokens: 1, Feed: 1, RowsFrom: -1}}},
		want: schedPlan{},
	}, {
		name: "blocks only the prefix cache holds are evicted for the step, least recently used first",
		state: schedState{TokenBudget: 8, MaxSeqs: 8, FreeBlocks: 1, Holders: holders(0, 1, 1, 2, 3, 4),
			Cached: []cachedBlock{{Key: 10, Block: 1, Used: 1}, {Key: 20, Block: 2, Used: 5}, {Key: 30, Block: 3, Used: 2}, {Key: 40, Block: 4, Used: 3}},
			Units:  []schedUnit{decoding(1, 0, 0, 1), prompt(2, 8)}},
		// Block 1 is the least recently used but a sequence holds it.
		want: schedPlan{Evict: []uint64{30, 40}, Run: []schedRun{{Unit: 0, Tokens: 1, Logits: 1}, {Unit: 1, Tokens: 7}}},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			tc.state.BlockSize = 4
			before := fmt.Sprintf("%+v", tc.state)
			if got := schedule(tc.state); !samePlan(got, tc.want) {
				t.Errorf("plan %s, want %s", show(got), show(tc.want))
			}
			if after := fmt.Sprintf("%+v", tc.state); after != before {
				t.Errorf("schedule changed its state:\n%s\nwas\n%s", after, before)
			}
		})
	}
}

// TestEvictionOrder: among the blocks only the cache holds, the least
// recently used go first, the deepest first among those used together,
// then the lowest block.
func TestEvictionOrder(t *testing.T) {
	entries := []cachedBlock{
		{Key: 1, Block: 10, Used: 4, Depth: 0},
		{Key: 2, Block: 11, Used: 4, Depth: 1},
		{Key: 3, Block: 12, Used: 2, Depth: 0},
		{Key: 4, Block: 13, Used: 1, Depth: 0}, // held by a sequence too
		{Key: 5, Block: 14, Used: 4, Depth: 1},
		{Key: 6, Block: 15, Used: 9, Depth: 3},
	}
	h := holders(10, 11, 12, 13, 13, 14, 15)
	for _, tc := range []struct {
		n    int
		want []uint64
	}{
		{0, nil},
		{1, []uint64{3}},
		{3, []uint64{3, 2, 5}},
		{9, []uint64{3, 2, 5, 1, 6}},
	} {
		if got := evictionOrder(entries, h, tc.n); !slices.Equal(got, tc.want) {
			t.Errorf("%d blocks: evict %v, want %v", tc.n, got, tc.want)
		}
	}
}

func samePlan(a, b schedPlan) bool {
	return slices.Equal(a.Preempt, b.Preempt) && slices.Equal(a.Attach, b.Attach) && a.Admit == b.Admit &&
		slices.Equal(a.Evict, b.Evict) && slices.Equal(a.Run, b.Run)
}

func show(p schedPlan) string {
	return fmt.Sprintf("{preempt %v, attach %v, admit %d, evict %v, run %v}", p.Preempt, p.Attach, p.Admit, p.Evict, p.Run)
}
