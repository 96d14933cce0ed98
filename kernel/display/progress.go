package display

import (
	"fmt"
	"html"
	"image"
	"strings"
	"sync"
	"time"

	"github.com/janpfeifer/gonb/gonbui"
)

// Term is one named value of a loss (e.g. "activation", "distance", "L1").
type Term struct {
	Name  string
	Value float64
}

// Status is the state of an optimization at one iteration.
type Status struct {
	Iteration int
	Total     int     // number of iterations planned; 0 if unknown
	Terms     []Term  // loss terms, shown in this order
	Rate      float64 // iterations per second; 0 means Progress measures it
	// Images are the current images (one per facet or unit). An update with
	// images is a snapshot: Done offers a slider over all snapshots. They are
	// encoded during Update, so the caller may reuse their buffers.
	Images []image.Image
}

// Progress shows the live state of an optimization in one output area that
// is updated in place: iteration, loss terms, rate and the latest images.
// [Progress.Done] replaces it with the final state and a slider to scrub
// the snapshots. Updates without images are shown at most 4 times a second;
// snapshots and the last iteration always are. Outside a notebook each
// update prints a text line (at most one a second, plus every snapshot and
// the last iteration) and Done writes the snapshots as an HTML page. Its methods may be called from any
// goroutine.
type Progress struct {
	mu        sync.Mutex
	title     string
	id        string
	width     int
	started   time.Time
	firstIter int
	last      Status
	latest    []string // data URIs of the latest images
	frames    []encodedFrame
	printed   time.Time // when an update was last shown
}

// NewProgress starts a progress display. width is the display width of the
// images in pixels (0 means 128).
func NewProgress(title string, width int) *Progress {
	if width <= 0 {
		width = 128
	}
	return &Progress{title: title, id: "layervis-progress-" + gonbui.UniqueId(), width: width, firstIter: -1}
}

// Update shows s.
func (p *Progress) Update(s Status) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if p.firstIter < 0 {
		p.firstIter, p.started = s.Iteration, now
	}
	if s.Rate == 0 && s.Iteration > p.firstIter {
		s.Rate = float64(s.Iteration-p.firstIter) / now.Sub(p.started).Seconds()
	}
	p.last = s
	if len(s.Images) > 0 {
		uris := make([]string, len(s.Images))
		for i, img := range s.Images {
			u, err := dataURI(img)
			if err != nil {
				return err
			}
			uris[i] = u
		}
		p.latest = uris
		p.frames = append(p.frames, encodedFrame{label: fmt.Sprintf("iteration %d", s.Iteration), uris: uris})
	}
	// Updates without new images are rate-limited: at most 4 a second in a
	// notebook (each one re-sends the latest images), 1 a second as text.
	limit := time.Second
	if InNotebook() {
		limit = time.Second / 4
	}
	if len(s.Images) == 0 && now.Sub(p.printed) < limit && (s.Total == 0 || s.Iteration < s.Total) {
		return nil
	}
	p.printed = now
	if InNotebook() {
		gonbui.UpdateHTML(p.id, p.html(""))
		flush()
		return nil
	}
	line := p.title + ": " + statusLine(s)
	if len(s.Images) > 0 {
		line += fmt.Sprintf(" [snapshot %d]", len(p.frames))
	}
	return printLine(line)
}

// Done shows the final state with a slider over the snapshots (outside a
// notebook: writes them as an HTML page).
func (p *Progress) Done() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	sc := scrubberHTML("snapshots", p.frames, p.width)
	if InNotebook() {
		gonbui.UpdateHTML(p.id, p.html(sc))
		flush()
		return nil
	}
	return writeFile("progress", ".html", []byte(page(p.title, p.html(sc))),
		fmt.Sprintf("%s: done, %s, %d snapshots", p.title, statusLine(p.last), len(p.frames)))
}

// html renders the current state; with scrubber set, that replaces the
// latest images.
func (p *Progress) html(scrubber string) string {
	var b strings.Builder
	b.WriteString(`<div class="lv-progress">`)
	title(&b, p.title)
	fmt.Fprintf(&b, `<div style="font-family:monospace">%s</div>`, html.EscapeString(statusLine(p.last)))
	if s := p.last; s.Total > 0 {
		fmt.Fprintf(&b, `<progress value="%d" max="%d" style="width:300px"></progress>`, s.Iteration, s.Total)
	}
	if scrubber != "" {
		b.WriteString(scrubber)
	} else if len(p.latest) > 0 {
		b.WriteString(`<div style="display:flex;gap:4px;flex-wrap:wrap">`)
		for _, u := range p.latest {
			fmt.Fprintf(&b, `<img src="%s" width="%d" style="image-rendering:pixelated">`, u, p.width)
		}
		b.WriteString("</div>")
	}
	b.WriteString("</div>")
	return b.String()
}

// statusLine formats s as "iteration 120/500 (24%)  loss 1.23  act 0.5  3.2 it/s".
func statusLine(s Status) string {
	var b strings.Builder
	fmt.Fprintf(&b, "iteration %d", s.Iteration)
	if s.Total > 0 {
		fmt.Fprintf(&b, "/%d (%d%%)", s.Total, s.Iteration*100/s.Total)
	}
	for _, t := range s.Terms {
		fmt.Fprintf(&b, "  %s %.4g", t.Name, t.Value)
	}
	if s.Rate > 0 {
		fmt.Fprintf(&b, "  %.3g it/s", s.Rate)
	}
	return b.String()
}
