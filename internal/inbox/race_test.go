//go:build race

package inbox

// raceEnabled is set under the race detector, which slows the regexp
// package tenfold: the shortcut tests then read a part of their texts.
const raceEnabled = true
