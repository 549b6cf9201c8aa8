package config

import "testing"

func TestClosestNamesATypo(t *testing.T) {
	known := []string{"bridge", "homeserver", "postgres", "synapse"}
	for typed, want := range map[string]string{"brigde": "bridge", "bridg": "bridge", "homeservr": "homeserver", "postgre": "postgres", "xyz": ""} {
		got := Closest(typed, known)
		if want == "" && len(got) != 0 || want != "" && (len(got) == 0 || got[0] != want) {
			t.Errorf("Closest(%q) = %q, want first %q", typed, got, want)
		}
	}
}
