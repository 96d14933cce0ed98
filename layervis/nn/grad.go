package nn

import (
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // GoMLX style.
)

// WithInputGradient returns y = f(x) whose gradient with respect to x is
// grad(v), v = dL/dy, instead of autodiff's through f. Other nodes f uses
// get autodiff's gradients as usual. f must stop x's gradient
// (StopGradient) before any op autodiff cannot differentiate, such as a
// backend gather without a gradient rule: autodiff still reaches x from y
// (through an exactly-zero term), but only through grad.
func WithInputGradient(x *Node, f func(x *Node) *Node, grad func(v *Node) *Node) *Node {
	return withInputGradient(x, f, nil, grad)
}
