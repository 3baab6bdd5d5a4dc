//go:build unix

package main

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// row is one line of the result table.
type row struct {
	tool, input string
	rate        float64 // records/s, from the median wall time
	rssKB       int64   // the highest peak RSS of the runs
}

// target is what zpipe ndjson → ndjson must reach (issue 6).
const (
	targetRate  = 450000
	targetRSSMB = 64
	targetCPUs  = 2
)

// median returns the median of ds (the mean of the middle two when even).
func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 0 {
		return (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return s[len(s)/2]
}

// printTable prints rows; rows[0] is zpipe ndjson → ndjson, the reference
// every ratio is taken against. Text columns are left-aligned, numbers
// right-aligned.
func printTable(w io.Writer, rows []row) {
	cells := [][]string{{"tool", "input", "records/s", "vs zpipe ndjson", "peak RSS"}}
	for i, r := range rows {
		ratio := "reference"
		if i > 0 {
			ratio = ratioText(rows[0].rate, r.rate)
		}
		cells = append(cells, []string{r.tool, r.input, thousands(r.rate), ratio, thousands(mb(r.rssKB)) + " MB"})
	}
	right := []bool{false, false, true, true, true}
	width := make([]int, len(right))
	for _, c := range cells {
		for j, s := range c {
			width[j] = max(width[j], utf8.RuneCountInString(s))
		}
	}
	for _, c := range cells {
		var b strings.Builder
		for j, s := range c {
			pad := strings.Repeat(" ", width[j]-utf8.RuneCountInString(s))
			if j > 0 {
				b.WriteString("  ")
			}
			if right[j] {
				b.WriteString(pad + s)
			} else {
				b.WriteString(s + pad)
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
}

// ratioText says how many times faster zpipe ndjson is than a row.
func ratioText(ref, rate float64) string {
	switch {
	case rate <= 0 || ref <= 0:
		return "-"
	case ref/rate < 1:
		return fmt.Sprintf("zpipe is %.2f×", ref/rate)
	}
	return fmt.Sprintf("zpipe is %.1f×", ref/rate)
}

// targetLine says whether zpipe ndjson → ndjson meets the target.
func targetLine(ref row, cpus int) string {
	met := "met"
	if ref.rate < targetRate || mb(ref.rssKB) > targetRSSMB {
		met = "NOT met"
	}
	s := fmt.Sprintf("target: zpipe ndjson → ndjson ≥ %s records/s on %d cores, ≤ %d MB peak RSS: %s (%s records/s, %s MB on %d CPUs)",
		thousands(targetRate), targetCPUs, targetRSSMB, met, thousands(ref.rate), thousands(mb(ref.rssKB)), cpus)
	if cpus != targetCPUs {
		s += fmt.Sprintf("; the target is for %d cores, this machine has %d", targetCPUs, cpus)
	}
	return s
}

func mb(kb int64) float64 { return float64(kb) / 1024 }

// thousands formats f rounded to an integer with commas: 1234567 → 1,234,567.
func thousands(f float64) string {
	s := strconv.FormatInt(int64(f+0.5), 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
