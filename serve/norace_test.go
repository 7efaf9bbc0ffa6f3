//go:build !race

package serve

// rounds is TestLoadSoak's number of rounds.
const rounds = 20
