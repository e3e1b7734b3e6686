//go:build !race

package inbox

// raceEnabled is set under the race detector (race_test.go).
const raceEnabled = false
