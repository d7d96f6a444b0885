package demo

import (
	"testing"
)

// The catalog documents (and asserts) this namespace value; ids derived from
// it are what the catalog's demo products carry.
func TestIDSchemeMatchesTheCatalog(t *testing.T) {
	t.Parallel()
	if got := Namespace.String(); got != "f5998d11-5f6a-55a2-b34d-04f3b1ecb3d2" {
		t.Fatalf("namespace %s", got)
	}
	if VariantID("TEE-UNI-BLK-M").Version() != 5 || PlacementID("tee-unisex", "front").Version() != 5 {
		t.Fatal("demo ids are not UUIDv5")
	}
}

func TestMirrorOfTheCatalogTable(t *testing.T) {
	t.Parallel()
	vs := Variants()
	if len(blanks) != 24 || len(vs) != 100 || len(Placements()) != 34 {
		t.Fatalf("%d blanks, %d variants, %d placements; the catalog has 24, 100, 34", len(blanks), len(vs), len(Placements()))
	}
	want := map[string]int64{"TEE-UNI-BLK-M": 1299, "TEE-UNI-NVY-2XL": 1499, "HOD-PUL-GRY-L": 3299, "MUG-11-WHT-OS": 899,
		"STK-KC-WHT-6IN": 599, "CAS-TGH-BLK-PX8": 2199, "BTL-20-WHT-OS": 2499}
	seen := map[string]bool{}
	for _, v := range vs {
		if seen[v.SKU] {
			t.Fatalf("duplicate SKU %s", v.SKU)
		}
		seen[v.SKU] = true
		if p, ok := want[v.SKU]; ok && p != v.USD {
			t.Errorf("%s: %d, want %d", v.SKU, v.USD, p)
		}
	}
	for sku := range want {
		if !seen[sku] {
			t.Errorf("missing %s", sku)
		}
	}
	// Every technique a demo placement uses has a surcharge.
	techs := map[string]bool{}
	for _, s := range Surcharges() {
		techs[s.Technique] = true
	}
	for _, p := range Placements() {
		if !techs[p.Technique] {
			t.Errorf("placement %s uses %s, which has no surcharge", p.PlacementID, p.Technique)
		}
	}
	for _, tech := range []string{"dtg", "screen", "embroidery", "sublimation"} {
		if !techs[tech] {
			t.Errorf("no surcharge for %s", tech)
		}
	}
}
