package tfjs

import (
	"os"
	"testing"
)

// FuzzParseModelJSON feeds arbitrary bytes to the model.json parser and,
// when they parse, to the node analysis (with a dummy value for every
// constant): neither may panic, and a parsed graph must be topologically
// ordered.
func FuzzParseModelJSON(f *testing.F) {
	f.Add([]byte(`{"format":"graph-model","modelTopology":{"node":[{"name":"x","op":"Placeholder"}]}}`))
	f.Add([]byte(`{"modelTopology":{"node":[{"name":"a","op":"Relu","input":["b:1","^c"]},{"name":"b","op":"Relu","input":["a"]},{"name":"c","op":"Const"}]}}`))
	f.Add([]byte(`{"modelTopology":{"node":[{"name":"x","op":"Placeholder","attr":{"shape":{"shape":{"dim":[{"size":"-1"},{"size":1e3}]}}}}]}}`))
	f.Add([]byte(`{"format":"layers-model"}`))
	if b, err := os.ReadFile(handModel(f)); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, g, err := parseModelJSON(data)
		if err != nil {
			return
		}
		pos := make([]int, len(g.nodes))
		if len(g.order) != len(g.nodes) {
			t.Fatalf("order has %d nodes, graph %d", len(g.order), len(g.nodes))
		}
		for k, i := range g.order {
			pos[i] = k
		}
		for i, nd := range g.nodes {
			for _, r := range nd.inputs {
				if pos[r.node] >= pos[i] {
					t.Fatalf("node %q comes before its input %q", nd.name, g.nodes[r.node].name)
				}
			}
		}
		weights := map[string]*tensor{}
		for _, nd := range g.nodes {
			if nd.op == "Const" {
				weights[nd.name] = &tensor{dims: []int{2}, ints: []int64{1, 2}}
			}
		}
		m := &Model{name: "fuzz", g: g}
		_ = m.setup(weights)
	})
}
