//go:build race

package serve

// rounds is TestLoadSoak's number of rounds: fewer under the race
// detector, which makes each about ten times slower.
const rounds = 4
