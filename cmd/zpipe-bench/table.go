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

// row is one line of the result table: one job, measured at every size.
type row struct {
	key, tool, input string
	versus           string    // key of the zpipe row an anchor is compared with; "" for zpipe rows
	at               []measure // one per size, in the order of the sizes
}

// measure is one job at one size; a zero rate means it did not run there.
type measure struct {
	rate  float64 // records/s, from the median wall time
	rssKB int64   // the highest peak RSS of the runs
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

// printTable prints rows, records/s and peak RSS for each of sizes side by
// side and, with more than one size, the rate at the largest size divided
// by the rate at the smallest: about 1 or above when a job grows linearly,
// well below 1 when it grows faster. Text columns are left-aligned, numbers
// right-aligned; "-" is a job that did not run at that size.
func printTable(w io.Writer, sizes []int, rows []row) {
	head := []string{"tool", "input"}
	for _, n := range sizes {
		head = append(head, sizeLabel(n)+" rec/s", sizeLabel(n)+" RSS")
	}
	growth := len(sizes) > 1
	if growth {
		head = append(head, growthLabel(sizes))
	}
	cells := [][]string{head}
	for _, r := range rows {
		c := []string{r.tool, r.input}
		for _, m := range r.at {
			c = append(c, rateText(m), rssText(m))
		}
		if growth {
			c = append(c, growthText(r.at[0], r.at[len(r.at)-1]))
		}
		cells = append(cells, c)
	}
	printAligned(w, cells, 2)
}

// printAligned prints cells in columns two spaces apart, the first left
// columns left-aligned and the others right-aligned.
func printAligned(w io.Writer, cells [][]string, left int) {
	var width []int
	for _, c := range cells {
		for j, s := range c {
			if j == len(width) {
				width = append(width, 0)
			}
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
			if j >= left {
				b.WriteString(pad + s)
			} else {
				b.WriteString(s + pad)
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
}

func rateText(m measure) string {
	if m.rate <= 0 {
		return "-"
	}
	return thousands(m.rate)
}

func rssText(m measure) string {
	if m.rate <= 0 {
		return "-"
	}
	return thousands(mb(m.rssKB)) + " MB"
}

// growthLabel heads the last column: "200k/20k".
func growthLabel(sizes []int) string {
	return sizeLabel(sizes[len(sizes)-1]) + "/" + sizeLabel(sizes[0])
}

// growthText is the rate at the largest size over the rate at the smallest.
func growthText(small, large measure) string {
	if small.rate <= 0 || large.rate <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", large.rate/small.rate)
}

// comparisons says, at size index i, how many times faster each zpipe row
// is than the anchors compared with it, a line per zpipe row that has any:
// "zpipe ndjson → ndjson is 3.1× cue vet, 0.62× jq 1.7.1".
func comparisons(rows []row, i int) []string {
	var lines []string
	for _, z := range rows {
		if z.versus != "" || z.at[i].rate <= 0 {
			continue
		}
		var vs []string
		for _, a := range rows {
			if a.versus == z.key && a.at[i].rate > 0 {
				vs = append(vs, times(z.at[i].rate/a.at[i].rate)+" "+a.tool)
			}
		}
		if len(vs) > 0 {
			lines = append(lines, fmt.Sprintf("zpipe %s is %s", z.input, strings.Join(vs, ", ")))
		}
	}
	return lines
}

// times is a ratio as "3.1×", with one more digit below 1: "0.62×".
func times(x float64) string {
	if x < 1 {
		return fmt.Sprintf("%.2f×", x)
	}
	return fmt.Sprintf("%.1f×", x)
}

// targetLine says whether zpipe ndjson → ndjson, measured on records
// records, meets the target.
func targetLine(ref measure, records, cpus int) string {
	met := "met"
	if ref.rate < targetRate || mb(ref.rssKB) > targetRSSMB {
		met = "NOT met"
	}
	s := fmt.Sprintf("target: zpipe ndjson → ndjson ≥ %s records/s on %d cores, ≤ %d MB peak RSS: %s (%s records/s, %s MB on %d CPUs, %s records)",
		thousands(targetRate), targetCPUs, targetRSSMB, met, thousands(ref.rate), thousands(mb(ref.rssKB)), cpus, thousands(float64(records)))
	if cpus != targetCPUs {
		s += fmt.Sprintf("; the target is for %d cores, this machine has %d", targetCPUs, cpus)
	}
	return s
}

// sizeLabel is a record count as short as the table allows: 20000 → 20k,
// 2000000 → 2M, 1500 → 1,500.
func sizeLabel(n int) string {
	switch {
	case n >= 1000000 && n%1000000 == 0:
		return strconv.Itoa(n/1000000) + "M"
	case n >= 1000 && n%1000 == 0:
		return strconv.Itoa(n/1000) + "k"
	}
	return thousands(float64(n))
}

// sizesText lists sizes in words: "2,000, 20,000 and 200,000 records".
func sizesText(sizes []int) string {
	var s []string
	for _, n := range sizes {
		s = append(s, thousands(float64(n)))
	}
	if len(s) == 1 {
		return s[0] + " records"
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1] + " records"
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
