package mathexpr

import (
	"fmt"
	"math/big"
	"strings"
)

// Kind says what a Node is.
type Kind uint8

const (
	Num       Kind = iota // a number: Rat, exact, written with Places decimal places
	Const                 // π ("pi"), e ("e") or ∞ ("inf"), in Name
	Sym                   // a variable, Name: "x", "a_{3}", "\alpha"
	Add                   // the sum of Args
	Mul                   // the product of Args
	Pow                   // Args[0] to the power Args[1]
	Func                  // Name applied to Args: sin, log, abs, sqrt, sum, …
	Percent               // Args[0] percent
	PlusMinus             // Args[0] ± Args[1]
	Rel                   // Args[0] Ops[0] Args[1] Ops[1] …: =, <, le, ne, approx, in, :
	List                  // a bare list "a, b": unordered, like a set
	Set                   // \{a, b\}, unordered
	Tuple                 // Args in order, between Open and Close: (a, b], [a, b]
	Union                 // the union of Args (intervals, sets)
	Matrix                // Rows × Cols entries in Args, row by row
	Text                  // words, Name: \text{Evelyn}
	Empty                 // the empty set
)

// Node is one node of an expression tree.
type Node struct {
	Kind        Kind
	Name        string
	Rat         *big.Rat // Num's value
	Places      int      // Num's decimal places as written: 1.50 has 2
	Ops         []string // Rel's operators, one fewer than Args
	Open, Close byte     // Tuple's brackets
	Rows, Cols  int      // Matrix's shape
	Args        []*Node
}

// String renders n as an unambiguous canonical text: two trees with the
// same string are the same tree.
func (n *Node) String() string {
	var b strings.Builder
	n.write(&b)
	return b.String()
}

func (n *Node) write(b *strings.Builder) {
	args := func(open, sep, close string) {
		b.WriteString(open)
		for i, a := range n.Args {
			if i > 0 {
				b.WriteString(sep)
			}
			a.write(b)
		}
		b.WriteString(close)
	}
	switch n.Kind {
	case Num:
		b.WriteString(n.Rat.RatString())
		if n.Places > 0 {
			fmt.Fprintf(b, "~%d", n.Places)
		}
	case Const, Sym:
		b.WriteString(n.Name)
	case Text:
		b.WriteString(`"` + n.Name + `"`)
	case Add:
		args("(", " + ", ")")
	case Mul:
		args("(", " * ", ")")
	case Pow:
		args("(", " ^ ", ")")
	case Func:
		b.WriteString(n.Name)
		args("(", ", ", ")")
	case Percent:
		args("(", "", "%)")
	case PlusMinus:
		args("(", " ± ", ")")
	case Rel:
		b.WriteString("(")
		for i, a := range n.Args {
			if i > 0 {
				b.WriteString(" " + n.Ops[i-1] + " ")
			}
			a.write(b)
		}
		b.WriteString(")")
	case List:
		args("list(", ", ", ")")
	case Set:
		args("{", ", ", "}")
	case Tuple:
		args(string(n.Open), ", ", string(n.Close))
	case Union:
		args("(", " ∪ ", ")")
	case Matrix:
		fmt.Fprintf(b, "matrix%dx%d", n.Rows, n.Cols)
		args("[", ", ", "]")
	case Empty:
		b.WriteString("∅")
	}
}

func number(r *big.Rat) *Node          { return &Node{Kind: Num, Rat: r} }
func integer(x int64) *Node            { return number(big.NewRat(x, 1)) }
func neg(a *Node) *Node                { return &Node{Kind: Mul, Args: []*Node{integer(-1), a}} }
func inverse(a *Node) *Node            { return &Node{Kind: Pow, Args: []*Node{a, integer(-1)}} }
func sub(a, b *Node) *Node             { return &Node{Kind: Add, Args: []*Node{a, neg(b)}} }
func fn(name string, a ...*Node) *Node { return &Node{Kind: Func, Name: name, Args: a} }
