package cnn

import (
	"fmt"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // GoMLX style.
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// Activations runs m on the NCHW batch x (network input, normalized) and
// returns the named layers' activations (NCHW).
func Activations(b compute.Backend, m Model, x *tensors.Tensor, layers ...string) ([]*tensors.Tensor, error) {
	if err := check(m, x, layers...); err != nil {
		return nil, err
	}
	exec, err := model.NewExec(b, m.Store(), func(_ *model.Scope, x *Node) []*Node {
		return m.Build(x, layers...)
	})
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", m.Name(), err)
	}
	defer exec.Finalize()
	out, err := exec.Exec(x)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", m.Name(), err)
	}
	return out, nil
}

// MeanGradient returns the activation of layer for the NCHW batch x and the
// gradient of its mean (over all its elements) w.r.t. x.
func MeanGradient(b compute.Backend, m Model, x *tensors.Tensor, layer string) (act, grad *tensors.Tensor, err error) {
	if err := check(m, x, layer); err != nil {
		return nil, nil, err
	}
	exec, err := model.NewExec(b, m.Store(), func(_ *model.Scope, x *Node) (*Node, *Node) {
		a := m.Build(x, layer)[0]
		return a, Gradient(ReduceAllMean(a), x)[0]
	})
	if err != nil {
		return nil, nil, fmt.Errorf("model %s: %w", m.Name(), err)
	}
	defer exec.Finalize()
	out, err := exec.Exec(x)
	if err != nil {
		return nil, nil, fmt.Errorf("model %s: %w", m.Name(), err)
	}
	return out[0], out[1], nil
}

func check(m Model, x *tensors.Tensor, layers ...string) error {
	if err := Check(m, layers...); err != nil {
		return err
	}
	in := m.Input()
	s := x.Shape()
	if s.Rank() != 4 || s.Dim(1) != in.Channels {
		return fmt.Errorf("model %s takes [batch, %d, height, width] inputs, got %s", m.Name(), in.Channels, s)
	}
	if err := in.CheckSize(s.Dim(2), s.Dim(3)); err != nil {
		return fmt.Errorf("model %s: %w", m.Name(), err)
	}
	return nil
}
