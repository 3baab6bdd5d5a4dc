// Package pipeline loads zpipe manifests, checks them against
// cueschemas/manifest.cue, and compiles them into a Plan: the stages in
// dependency order with their settings resolved. It runs nothing and
// writes nothing; package engine runs a Plan.
package pipeline
