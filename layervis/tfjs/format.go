package tfjs

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// modelFile is the content of a model.json file.
type modelFile struct {
	Format          string          `json:"format"`
	ModelTopology   json.RawMessage `json:"modelTopology"`
	WeightsManifest []weightGroup   `json:"weightsManifest"`
}

// topology is a TF GraphDef in JSON form.
type topology struct {
	Node []nodeDef `json:"node"`
}

// nodeDef is one TF NodeDef.
type nodeDef struct {
	Name  string               `json:"name"`
	Op    string               `json:"op"`
	Input []string             `json:"input"`
	Attr  map[string]attrValue `json:"attr"`
}

// attrValue is a TF AttrValue in protobuf JSON form: strings are base64,
// 64-bit integers are decimal strings.
type attrValue struct {
	S     *string    `json:"s"`
	I     *jsonInt   `json:"i"`
	F     *jsonFloat `json:"f"`
	B     *bool      `json:"b"`
	Type  string     `json:"type"`
	Shape *shapeDef  `json:"shape"`
	List  *attrList  `json:"list"`
}

type attrList struct {
	S []string    `json:"s"`
	I []jsonInt   `json:"i"`
	F []jsonFloat `json:"f"`
}

// shapeDef is a TF TensorShapeProto; a size of -1 is an unknown dimension.
type shapeDef struct {
	Dim []struct {
		Size jsonInt `json:"size"`
	} `json:"dim"`
	UnknownRank bool `json:"unknownRank"`
}

// jsonInt accepts an integer written as a JSON number or a decimal string.
type jsonInt int64

// UnmarshalJSON implements json.Unmarshaler.
func (v *jsonInt) UnmarshalJSON(b []byte) error {
	s := string(bytes.Trim(b, `"`))
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("bad integer %s", b)
	}
	*v = jsonInt(n)
	return nil
}

// jsonFloat accepts a JSON number or one of the strings "NaN", "Infinity",
// "-Infinity" (protobuf JSON).
type jsonFloat float64

// UnmarshalJSON implements json.Unmarshaler.
func (v *jsonFloat) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case `"NaN"`:
		*v = jsonFloat(math.NaN())
	case `"Infinity"`:
		*v = jsonFloat(math.Inf(1))
	case `"-Infinity"`:
		*v = jsonFloat(math.Inf(-1))
	default:
		f, err := strconv.ParseFloat(string(bytes.Trim(b, `"`)), 64)
		if err != nil {
			return fmt.Errorf("bad number %s", b)
		}
		*v = jsonFloat(f)
	}
	return nil
}

// ref names an output of a node.
type ref struct {
	node int // index in graphDef.nodes
	out  int // output index ("x:1" is output 1 of x)
}

// node is a parsed graph node.
type node struct {
	name   string
	op     string
	inputs []ref // data inputs; control dependencies ("^x") are dropped
	attr   map[string]attrValue
}

// graphDef is the parsed, validated topology of a graph model.
type graphDef struct {
	nodes []node
	index map[string]int
	order []int // topological order, inputs first
}

// parseModelJSON parses a model.json file and checks its graph: every
// input names a node, names are unique and there is no cycle.
func parseModelJSON(data []byte) (*modelFile, *graphDef, error) {
	var mf modelFile
	if err := json.Unmarshal(data, &mf); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, nil, fmt.Errorf("invalid JSON at byte %d: %v", se.Offset, err)
		}
		return nil, nil, fmt.Errorf("invalid model.json: %v", err)
	}
	switch mf.Format {
	case "graph-model", "":
	case "layers-model":
		return nil, nil, errors.New(`format "layers-model" (a Keras model) is not supported; convert it to a graph model ` +
			`(tensorflowjs_converter --input_format=tfjs_layers_model --output_format=tfjs_graph_model)`)
	default:
		return nil, nil, fmt.Errorf("unknown format %q; want a TF.js \"graph-model\"", mf.Format)
	}
	if len(mf.ModelTopology) == 0 || string(mf.ModelTopology) == "null" {
		return nil, nil, errors.New("no modelTopology: not a TF.js graph model")
	}
	var top topology
	if err := json.Unmarshal(mf.ModelTopology, &top); err != nil {
		return nil, nil, fmt.Errorf("modelTopology: %v", err)
	}
	if len(top.Node) == 0 {
		return nil, nil, errors.New("modelTopology has no nodes: not a TF.js graph model (or a Keras layers model)")
	}
	g, err := newGraphDef(top.Node)
	if err != nil {
		return nil, nil, err
	}
	return &mf, g, nil
}

func newGraphDef(defs []nodeDef) (*graphDef, error) {
	g := &graphDef{nodes: make([]node, len(defs)), index: make(map[string]int, len(defs))}
	for i, d := range defs {
		if d.Name == "" {
			return nil, fmt.Errorf("node %d (op %q) has no name", i, d.Op)
		}
		if d.Op == "" {
			return nil, fmt.Errorf("node %q has no op", d.Name)
		}
		if _, dup := g.index[d.Name]; dup {
			return nil, fmt.Errorf("two nodes are named %q", d.Name)
		}
		g.index[d.Name] = i
		g.nodes[i] = node{name: d.Name, op: d.Op, attr: d.Attr}
	}
	for i, d := range defs {
		for _, in := range d.Input {
			if strings.HasPrefix(in, "^") {
				if _, ok := g.index[in[1:]]; !ok {
					return nil, fmt.Errorf("node %q: control input %q is not a node of the graph", d.Name, in)
				}
				continue
			}
			name, out := in, 0
			if j := strings.LastIndexByte(in, ':'); j >= 0 {
				k, err := strconv.Atoi(in[j+1:])
				if err != nil || k < 0 {
					return nil, fmt.Errorf("node %q: bad input %q (want NAME or NAME:OUTPUT)", d.Name, in)
				}
				name, out = in[:j], k
			}
			src, ok := g.index[name]
			if !ok {
				return nil, fmt.Errorf("node %q: input %q is not a node of the graph", d.Name, in)
			}
			g.nodes[i].inputs = append(g.nodes[i].inputs, ref{src, out})
		}
	}
	if err := g.sort(); err != nil {
		return nil, err
	}
	return g, nil
}

// sort computes the topological order (Kahn's algorithm, ties in file
// order) and fails on a cycle.
func (g *graphDef) sort() error {
	n := len(g.nodes)
	pending := make([]int, n) // inputs not yet placed
	users := make([][]int, n) // consumers of each node
	for i, nd := range g.nodes {
		for _, in := range nd.inputs {
			pending[i]++
			users[in.node] = append(users[in.node], i)
		}
	}
	ready := make([]int, 0, n)
	for i := range n {
		if pending[i] == 0 {
			ready = append(ready, i)
		}
	}
	g.order = make([]int, 0, n)
	for len(ready) > 0 {
		i := ready[0]
		ready = ready[1:]
		g.order = append(g.order, i)
		for _, u := range users[i] {
			if pending[u]--; pending[u] == 0 {
				ready = append(ready, u)
			}
		}
	}
	if len(g.order) == n {
		return nil
	}
	var cyc []string
	for i := range n {
		if pending[i] > 0 {
			cyc = append(cyc, fmt.Sprintf("%q", g.nodes[i].name))
			if len(cyc) == 5 {
				cyc = append(cyc, "...")
				break
			}
		}
	}
	return fmt.Errorf("the graph has a cycle (control flow such as while loops is not supported); nodes on or after it: %s",
		strings.Join(cyc, ", "))
}

// str returns a string attribute (base64-decoded), or def when absent.
func (nd *node) str(key, def string) (string, error) {
	a, ok := nd.attr[key]
	if !ok || a.S == nil {
		return def, nil
	}
	b, err := base64.StdEncoding.DecodeString(*a.S)
	if err != nil {
		return "", fmt.Errorf("attribute %s: bad base64 %q", key, *a.S)
	}
	return string(b), nil
}

// strs returns a list-of-strings attribute, base64-decoded.
func (nd *node) strs(key string) ([]string, error) {
	a, ok := nd.attr[key]
	if !ok || a.List == nil {
		return nil, nil
	}
	out := make([]string, len(a.List.S))
	for i, s := range a.List.S {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("attribute %s: bad base64 %q", key, s)
		}
		out[i] = string(b)
	}
	return out, nil
}

// ints returns a list-of-ints attribute, or def when absent or empty.
func (nd *node) ints(key string, def []int) []int {
	a, ok := nd.attr[key]
	if !ok || a.List == nil || len(a.List.I) == 0 {
		return def
	}
	out := make([]int, len(a.List.I))
	for i, v := range a.List.I {
		out[i] = int(v)
	}
	return out
}

// integer returns an int attribute, or def when absent.
func (nd *node) integer(key string, def int) int {
	if a, ok := nd.attr[key]; ok && a.I != nil {
		return int(*a.I)
	}
	return def
}

// float returns a float attribute, or def when absent.
func (nd *node) float(key string, def float64) float64 {
	if a, ok := nd.attr[key]; ok && a.F != nil {
		return float64(*a.F)
	}
	return def
}

// boolean returns a bool attribute, or def when absent.
func (nd *node) boolean(key string, def bool) bool {
	if a, ok := nd.attr[key]; ok && a.B != nil {
		return *a.B
	}
	return def
}

// shape returns the "shape" attribute of a Placeholder: nil if absent or of
// unknown rank; -1 for unknown dimensions.
func (nd *node) shape() []int {
	a, ok := nd.attr["shape"]
	if !ok || a.Shape == nil || a.Shape.UnknownRank {
		return nil
	}
	out := make([]int, len(a.Shape.Dim))
	for i, d := range a.Shape.Dim {
		out[i] = int(d.Size)
	}
	return out
}
