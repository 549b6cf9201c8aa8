package config

import (
	"slices"
	"strings"
)

// Closest returns up to three known names within a small edit distance of
// name, nearest first: the "did you mean" of a mistyped service or config key.
func Closest(name string, known []string) []string {
	type cand struct {
		name string
		dist int
	}
	var cands []cand
	limit := max(2, len(name)/3)
	for _, k := range known {
		d := editDistance(strings.ToLower(name), k)
		if d <= limit || (len(name) >= 3 && strings.HasPrefix(k, strings.ToLower(name))) {
			cands = append(cands, cand{k, d})
		}
	}
	slices.SortStableFunc(cands, func(a, b cand) int { return a.dist - b.dist })
	var out []string
	for i := 0; i < len(cands) && i < 3; i++ {
		out = append(out, cands[i].name)
	}
	return out
}

// editDistance is the Damerau–Levenshtein (optimal string alignment) distance,
// so that a swapped pair of letters ("brigde") counts as one typo.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}
