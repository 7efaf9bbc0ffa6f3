//go:build race

package serve

// raceEnabled: the race detector makes TestLoadSoak about ten times slower
// while adding nothing the other server tests do not check for races.
const raceEnabled = true
