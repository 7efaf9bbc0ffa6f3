// Package mathexpr parses the LaTeX of a math answer into an expression
// tree and decides whether two answers mean the same.
//
// Parse reads numbers in every common notation (thousands separators such
// as 1,000, 1{,}000 and 1,\!000; decimals; scientific 1.5e3; percent;
// currency and unit words, which are dropped; Unicode minus, ×, ·, π, √,
// ≤), fractions (\frac, \dfrac, \tfrac, \cfrac, a/b), roots, powers,
// subscripts, π and e, functions (sin, log, …), factorials, relations
// (=, <, \le, \ne, \approx, :) and chains of them, sets \{…\}, tuples and
// intervals with their brackets, unions, \pm, matrices (pmatrix, bmatrix,
// array) and text (\text{…}; after a number it is a unit and dropped).
//
// Equal compares two trees:
//   - numbers exactly, as rationals, when both are exact; a decimal written
//     with six or more places is a rounded value and matches what rounds
//     to it (1.414214 is \sqrt{2}, 12.000001 is not 12), and within an
//     expression makes the comparison relative 1e-6, like Math-Verify's
//     default rounding to six places;
//     irrational values match within a relative 1e-9;
//   - expressions with variables by evaluating both at random points
//     (complex arithmetic, a fixed seed, the same point for the same
//     variable name on both sides) and requiring agreement within a
//     relative 1e-8 at every point: two different polynomials of low degree
//     agree at random points with probability zero (Schwartz–Zippel), so
//     this decides algebraic identity without a computer algebra system;
//   - equations as the sets they define: a = b and c = d match when a − b
//     is a constant non-zero multiple of c − d; inequalities likewise with a
//     positive multiple and the same strictness; a relation in one isolated
//     variable matches the interval or union it describes; "x = 3" and a
//     chain "x = 1 + 2 = 3" match the bare value 3;
//   - sets and bare lists without order, tuples and intervals in order and
//     with the same brackets, matrices entry by entry; a ± b is the set
//     {a + b, a − b};
//   - text by its letters, ignoring case, spaces and parentheses.
//
// Work is bounded: inputs longer than MaxLen, nesting deeper than
// MaxDepth, trees larger than MaxNodes and exact numbers larger than
// MaxBits make Equal return ErrBudget, which callers report as
// "unverifiable" rather than hang on 10^{10^{10}}.
package mathexpr
