package engine

import "time"

// The progress event types, as --progress=json writes them.
const (
	ProgressStart        = "start"
	ProgressUpdate       = "progress"
	ProgressItemComplete = "itemComplete"
	ProgressComplete     = "complete"
)

// Progress is one event of a progress stream: a batch or a stage started,
// moved on, finished an item, or completed. It marshals to the ndjson lines
// of zpipe run --progress=json.
type Progress struct {
	Type string `json:"type"`
	// Name is the stage or batch the event is about.
	Name string `json:"name"`
	// Item is the finished item's id, for itemComplete.
	Item string `json:"item,omitempty"`
	// Error is why the item failed, for an itemComplete that failed.
	Error      string  `json:"error,omitempty"`
	Completed  int     `json:"completed"`
	Total      int     `json:"total"`
	Percentage float64 `json:"percentage"`
	// Records and Failed count records so far.
	Records int       `json:"records"`
	Failed  int       `json:"failed"`
	Time    time.Time `json:"time"`
}

// Percent is completed/total as a percentage; nothing to do is complete.
func Percent(completed, total int) float64 {
	if total == 0 {
		return 100
	}
	return float64(completed) * 100 / float64(total)
}
