package mindseye

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"time"

	"github.com/layervis/layervis/layervis/backend"
	"github.com/layervis/layervis/layervis/internal/memstat"
)

// Report assembly: the snapshots and the report's status.

// startReport starts the report of a new run: its settings and model.
func (r *Run) startReport() {
	m, in := r.m, r.m.Input()
	r.report = Report{
		Tool: ReportTool, Status: StatusRunning, Backend: backend.Describe(r.b), SIMD: backend.SIMD, Seed: r.seed, Settings: r.cfg, Variant: VariantLoop,
		Model: ModelReport{
			Name: m.Name(), Target: r.cfg.Target, Penalty: r.cfg.Penalty, Channels: r.c,
			InputOrder: in.Order, InputRange: in.Range, InputMean: in.Mean, InputStd: in.Std,
		},
		Images: []string{}, Skipped: []SkippedFile{}, Warnings: []string{},
	}
	if s, ok := m.(interface{ Source() string }); ok {
		r.report.Model.Weights = s.Source()
	}
}

// recordStep adds an iteration's times to the report.
func (r *Run) recordStep(ev *Event) {
	r.steps++
	tm := &r.report.Timings
	tm.Step += ev.StepTime.Seconds()
	tm.Host += ev.HostTime.Seconds()
	tm.Transfer += ev.TransferTime.Seconds()
	n := float64(r.steps)
	tm.StepMean, tm.HostMean, tm.TransferMean = tm.Step/n, tm.Host/n, tm.Transfer/n
	r.report.Iterations = r.steps
	r.report.Memory.PeakRSS = memstat.PeakRSS()
}

// failed records err in the report (interrupted or failed) and writes it.
func (r *Run) failed(err error) {
	if err == nil {
		return
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		r.report.Status = StatusInterrupted
	} else {
		r.report.Status = StatusFailed
		r.report.Error = err.Error()
	}
	_ = r.out.writeReport(&r.report)
}

// snapshot measures the current images, saves them as
// facet_XX/iteration_NNNN.png and records them in the report.
func (r *Run) snapshot(i int) (*Snapshot, error) {
	t0 := time.Now()
	lambda := r.schedule(max(i, r.first)).Lambda
	terms, a, err := r.st.measure(lambda)
	if err == nil {
		err = r.st.syncHost()
	}
	r.st.takeTransfer() // part of the snapshot's time
	if err != nil {
		return nil, err
	}
	s := &Snapshot{Iteration: i, Terms: terms, Images: r.Images()}
	for k, f := range r.facets {
		ak := a[k*r.c : (k+1)*r.c]
		act := 0.0
		for _, j := range f.Channels {
			act += float64(ak[j])
		}
		act /= float64(len(f.Channels))
		d := 0.0
		for j, v := range ak {
			e := float64(v) - float64(f.Target[j])
			d += e * e
		}
		s.Activation = append(s.Activation, act)
		s.Distance = append(s.Distance, math.Sqrt(d))
		file := filepath.Join(r.dirs[k], fmt.Sprintf("iteration_%04d.png", i))
		if err := r.out.savePNG(file, s.Images[k]); err != nil {
			return nil, err
		}
		fr := &r.report.Facets[k]
		fr.Snapshots = append(fr.Snapshots, FacetSnapshot{Iteration: i, File: filepath.ToSlash(file), Activation: act, Distance: math.Sqrt(d)})
		first := fr.Snapshots[0].Activation
		fr.ActivationGain = act - first
		if first > 0 {
			fr.ActivationGainRatio = act / first
		}
	}
	r.report.Snapshots = append(r.report.Snapshots, SnapshotTerms{Iteration: i, Terms: terms})
	r.saved = i
	r.report.Timings.Snapshots += time.Since(t0).Seconds()
	return s, nil
}
